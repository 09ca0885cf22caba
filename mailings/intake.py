"""The bounce intake: an SMTP server (aiosmtpd) for the bounce domain (``manage.py bounce_server``).

The bounce domain's MX points here (directly, or through the local MTA). It refuses a
VERP address (``bounces+<token>@…``) whose token is not genuine, takes any other (the
feedback-loop address that complaints come to), and hands each message, with the address
it was sent to, to ``mailings.bounces.handle_report``, which acts only on a genuine token. The database work runs in one
worker thread, off the event loop. If the database fails, the sender is told to try again
later (451), so a report is not lost to a passing hiccup; a message the parser cannot read
is refused for good (554), since sending it again for days would fail the same way.
"""
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from django.db import Error as DatabaseFailure
from django.db import close_old_connections

from lib import verp
from lib.bounces import MAX_REPORT_BYTES
from mailings.bounces import describe, handle_report

logger = logging.getLogger(__name__)



class BounceHandler:
    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bounce-intake")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if verp.token_from_address(address) is not None and not _genuine(address):
            return "550 5.1.1 No such mailbox here"  # a forged or altered VERP address
        envelope.rcpt_tos.append(address)  # others (the feedback-loop address) carry complaints
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        try:
            for recipient in envelope.rcpt_tos:
                await loop.run_in_executor(self.executor, _handle, envelope.content, recipient)
        except DatabaseFailure:
            logger.exception("bounce intake: a report could not be handled")
            return "451 4.3.0 Could not handle the report now; try again later"
        except Exception:  # the parser failed on this message: sending it again would fail again
            logger.exception("bounce intake: a message could not be read as a report")
            return "554 5.6.0 Could not read this message as a report"
        return "250 OK"


def _genuine(address):
    try:
        verp.delivery_id_from_address(address)
    except verp.BadToken:
        return False
    return True


def _handle(raw_bytes, recipient):
    close_old_connections()  # a connection broken or past CONN_MAX_AGE is replaced
    outcome = handle_report(raw_bytes, recipient)
    logger.info("bounce intake: %s (to %s)", describe(outcome), recipient)
    return outcome


class BounceServer:
    """Start with ``start()``, stop with ``stop()``; listens on ``host``:``port``."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.handler = BounceHandler()
        self.controller = Controller(self.handler, hostname=host, port=port, ready_timeout=10,
                                     data_size_limit=MAX_REPORT_BYTES)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()
        self.handler.executor.shutdown(wait=True)
