"""A real SMTP server on loopback, built on aiosmtpd.

Two users: ``manage.py mailcatcher`` (the local mail catcher of ``make run``, which keeps
every message as an .eml file a person can open) and the test suite, which tells it to
misbehave in the ways a production mail server does.
"""
import asyncio
import email
import email.policy
import threading
import time
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
    """How the server should misbehave. The defaults accept everything promptly."""

    delay: float = 0.0  # seconds to stall before answering DATA
    connect_reply: str = ""  # e.g. "421 Try later" answered to every command after connect
    reject_rcpt: dict = field(default_factory=dict)  # address -> "550 No such user"
    data_reply: str = ""  # e.g. "451 Try again" answered to DATA
    garbage: bool = False  # answer DATA with bytes that are no SMTP reply
    drop_during_data: bool = False  # close the connection instead of answering DATA


class Handler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options):
        behaviour = self.server.behaviour
        if behaviour.connect_reply:
            return behaviour.connect_reply
        reply = behaviour.reject_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server, session, envelope):
        behaviour = self.server.behaviour
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.drop_during_data:
            session.transport.close() if hasattr(session, "transport") else None
            smtp_server.transport.close()
            return "421 closing"
        if behaviour.garbage:
            smtp_server.transport.write(b"\x00\xffgarbage without a code\r\n")
            smtp_server.transport.close()
            return None
        if behaviour.data_reply:
            return behaviour.data_reply
        self.server.store(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def __init__(self, server, **kwargs):
        self._server = server
        super().__init__(Handler(server), **kwargs)

    def factory(self):
        return SMTP(self.handler, data_size_limit=None, enable_SMTPUTF8=True, timeout=30)


class LocalSMTPServer:
    """Start with ``start()``; ``port`` is chosen by the OS unless given."""

    def __init__(self, host="127.0.0.1", port=0, mailbox_dir=None, on_message=None):
        self.host = host
        self.requested_port = port
        self.mailbox_dir = Path(mailbox_dir) if mailbox_dir else None
        self.on_message = on_message
        self.behaviour = Behaviour()
        self.messages = []
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

    def reset(self):
        self.behaviour = Behaviour()
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
