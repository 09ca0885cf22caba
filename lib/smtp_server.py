"""A real SMTP server on loopback, built on aiosmtpd.

Two users: ``manage.py mailcatcher`` (the local mail catcher of ``make run``, which keeps
every message as an .eml file a person can open) and the test suite, which tells it to
misbehave in the ways a production mail server does.
"""
import asyncio
import email
import email.policy
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    data: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Behaviour:
    """How the server should misbehave. The defaults accept everything promptly.

    Each mode copies what a broken production server does on the wire:
    ``greeting_delay`` stalls before the 220 banner (a hung server: the client times out);
    ``connect_reply`` answers the connection with e.g. "421 Try later" and hangs up;
    ``reject_rcpt`` refuses chosen recipients (e.g. "550 No such user");
    ``data_reply`` answers the end of DATA with e.g. "451 Try again";
    ``garbage`` answers the end of DATA with bytes that are no SMTP reply, storing nothing;
    ``drop_during_data`` closes the connection instead of answering DATA, storing nothing;
    ``delay`` accepts the message and then stalls before answering the end of DATA (a slow
    server that delivers although the client gave up waiting). ``LocalSMTPServer.refuse_connections``
    closes the listening port altogether. A ``connect_reply`` that is no SMTP reply (e.g.
    ``GARBAGE``) is a garbage greeting.

    The ambiguous endings, where the message is STORED but the client cannot know it:
    ``after_data`` = "drop" (close without replying to the final dot), "garbage" (answer a
    line that is no SMTP reply) or a reply such as "299 2.0.0 Stored, probably".
    ``drop_at`` = "MAIL FROM", "RCPT TO" or "DATA" closes the connection instead of answering
    that command (nothing is stored). ``random_drops`` is the chance, at each of MAIL FROM,
    RCPT TO, DATA and the final dot, that the server closes the connection there; after
    the dot it has stored the message or not, at random. ``seed`` makes it repeatable.
    """

    delay: float = 0.0
    greeting_delay: float = 0.0
    connect_reply: str = ""
    reject_rcpt: dict = field(default_factory=dict)
    data_reply: str = ""
    garbage: bool = False
    drop_during_data: bool = False
    pipelining: bool = True  # advertise PIPELINING (RFC 2920), as production servers do
    after_data: str = ""
    drop_at: str = ""
    random_drops: float = 0.0
    seed: int = 0

    def __post_init__(self):
        self.random = random.Random(self.seed)

    def drops_at(self, step):
        """Whether the connection is to be closed instead of answering ``step``."""
        return self.drop_at == step or (self.random_drops and self.random.random() < self.random_drops)


GARBAGE = "\x00\xff\xfe garbage that is no SMTP reply"


class Handler:
    def __init__(self, server):
        self.server = server

    async def handle_EHLO(self, smtp_server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.server.behaviour.pipelining:
            responses.insert(-1, "250-PIPELINING")  # aiosmtpd reads pipelined commands in order
        return responses

    async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options):
        reply = self.server.behaviour.reject_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server, session, envelope):
        behaviour = self.server.behaviour
        if behaviour.drop_during_data:
            smtp_server.transport.close()
            return "421 closing"  # never reaches the client: the connection is gone
        if behaviour.garbage:
            return GARBAGE
        if behaviour.data_reply:
            return behaviour.data_reply
        ending = behaviour.after_data
        if behaviour.drops_at("end of data"):
            ending = "drop" if behaviour.random.random() < 0.5 else "drop unstored"
        if ending.startswith("drop"):
            self.server.dropped["end of data"] += 1
        if ending != "drop unstored":
            self.server.store(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if ending.startswith("drop"):
            smtp_server.transport.close()
            return "421 closing"  # never reaches the client: the connection is gone
        if ending == "garbage":
            return GARBAGE
        if ending:
            return ending
        if behaviour.delay:
            # The message is already queued; only the verdict is late (the classic cause of
            # duplicates when a client resends after a timeout).
            await asyncio.sleep(behaviour.delay)
        return "250 Message accepted for delivery"


class MisbehavingSMTP(SMTP):
    """aiosmtpd's SMTP whose banner can be late, or a refusal."""

    def __init__(self, handler, server, **kwargs):
        super().__init__(handler, **kwargs)
        self.server = server
        self.greeted = False

    def connection_made(self, transport):
        self.server.connections += 1
        super().connection_made(transport)

    def _dropped(self, step):
        if self.server.behaviour.drops_at(step):
            self.server.dropped[step] += 1
            self.transport.close()
            return True
        return False

    async def smtp_MAIL(self, arg):
        if not self._dropped("MAIL FROM"):
            await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if not self._dropped("RCPT TO"):
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg):
        if not self._dropped("DATA"):
            await super().smtp_DATA(arg)

    async def push(self, status):
        if not self.greeted:
            self.greeted = True
            behaviour = self.server.behaviour
            if behaviour.greeting_delay:
                await asyncio.sleep(behaviour.greeting_delay)
            if behaviour.connect_reply:
                self._writer.write(behaviour.connect_reply.encode() + b"\r\n")
                await self._writer.drain()
                self.transport.close()
                return
        await super().push(status)


class _Controller(Controller):
    def __init__(self, server, **kwargs):
        self._server = server
        super().__init__(Handler(server), **kwargs)

    def factory(self):
        return MisbehavingSMTP(
            self.handler, self._server, data_size_limit=None, enable_SMTPUTF8=True, timeout=30
        )


class LocalSMTPServer:
    """Start with ``start()``; ``port`` is chosen by the OS unless given."""

    def __init__(self, host="127.0.0.1", port=0, mailbox_dir=None, on_message=None):
        self.host = host
        self.requested_port = port
        self.mailbox_dir = Path(mailbox_dir) if mailbox_dir else None
        self.on_message = on_message
        self.behaviour = Behaviour()
        self.messages = []
        self.connections = 0  # SMTP sessions opened, to check connection reuse
        self.dropped = Counter()  # connections closed on purpose, by step
        self._lock = threading.Lock()
        self._controller = None
        self.port = None

    def start(self):
        port = self.requested_port or _free_port(self.host)
        self._controller = _Controller(self, hostname=self.host, port=port, ready_timeout=10)
        self._controller.start()
        self.port = port
        return self

    def stop(self):
        if self._controller:
            self._controller.stop()
            self._controller = None

    def refuse_connections(self):
        """Close the listening port: connections are refused until ``accept_connections``."""
        self.stop()

    def accept_connections(self):
        """Listen again on the same port."""
        self.requested_port = self.port
        self.start()

    def reset(self):
        self.behaviour = Behaviour()
        self.connections = 0
        self.dropped.clear()
        with self._lock:
            self.messages.clear()

    def store(self, received):
        with self._lock:
            self.messages.append(received)
        if self.mailbox_dir:
            self.mailbox_dir.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(self.messages):06d}.eml"
            (self.mailbox_dir / name).write_bytes(received.data)
        if self.on_message:
            self.on_message(received)

    def recipients(self):
        with self._lock:
            return [rcpt for received in self.messages for rcpt in received.rcpt_tos]

    def wait_for(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return True
            time.sleep(0.05)
        return False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _free_port(host):
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_until_stopped(server):
    """Keep a started server up until SIGTERM (honcho, systemd) or Ctrl-C, then stop it."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
