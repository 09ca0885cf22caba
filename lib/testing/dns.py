"""A DNS server on loopback for tests (dnslib), serving TXT, MX, A and AAAA records the way
a real zone would.

``LoopbackDNS({name: value})`` answers over UDP and TCP on one free port of 127.0.0.1:
a value is one TXT record (a str, split in 255-byte strings as DNS requires) or a list
of records, or a dict of records by type (``{"MX": [(10, "mx.example.org")], "A":
["192.0.2.1"], "AAAA": [...], "TXT": [...]}``; an MX of ``(0, ".")`` is a null MX);
``SERVFAIL`` makes the name fail and ``TIMEOUT`` makes the server never answer it; any
other name is NXDOMAIN. ``records`` may be changed while it runs; ``queries`` lists the
(name, type) of every query the server was asked.
"""
import threading

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A
from dnslib.dns import DNSError
from dnslib.server import BaseResolver, DNSServer

SERVFAIL = "<servfail>"
TIMEOUT = "<timeout>"


class QuietLogger:
    """dnslib logs every query to stdout; tests want silence."""

    def __getattr__(self, name):
        return lambda *args: None


def txt_strings(value):
    data = value.encode("utf-8")
    return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]


RDATA = {"A": A, "AAAA": AAAA, "TXT": lambda value: TXT(txt_strings(value)), "MX": lambda value: MX(value[1], value[0])}


class ZoneResolver(BaseResolver):
    """Answers queries from a dict {name: value or [values] or {type: [values]} or SERVFAIL
    or TIMEOUT}."""

    def __init__(self, records):
        self.records = records
        self.queries = []

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        self.queries.append((name, QTYPE[request.q.qtype]))
        value = {key.lower(): item for key, item in self.records.items()}.get(name)
        if value == TIMEOUT:
            raise DNSError("the test zone drops this query")  # dnslib then sends nothing
        if value == SERVFAIL:
            reply.header.rcode = RCODE.SERVFAIL
        elif value is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif isinstance(value, dict):
            qtype = QTYPE[request.q.qtype]
            for record in value.get(qtype, ()):
                reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=RDATA[qtype](record), ttl=60))
        elif request.q.qtype == QTYPE.TXT:
            for record in value if isinstance(value, list) else [value]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(txt_strings(record)), ttl=60))
        return reply  # the name exists but has no record of the asked type: NOERROR, no answer


class LoopbackDNS:
    """Context manager: ``with LoopbackDNS(records) as dns: dns.port, dns.address``."""

    host = "127.0.0.1"

    def __init__(self, records=None):
        self.records = dict(records or {})
        self.resolver = ZoneResolver(self.records)
        self.servers = []

    @property
    def queries(self):
        return self.resolver.queries

    @property
    def address(self):
        """The "host:port" form the DNS_RESOLVER setting takes."""
        return f"{self.host}:{self.port}"

    def start(self):
        for _try in range(20):  # the UDP port's TCP twin may be taken: pick another pair
            udp = DNSServer(self.resolver, address=self.host, port=0, logger=QuietLogger())
            self.port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self.resolver, address=self.host, port=self.port, tcp=True, logger=QuietLogger())
            except OSError:
                udp.server.server_close()
                continue
            self.servers = [udp, tcp]
            for server in self.servers:
                server.start_thread()
            return self
        raise OSError("no free UDP+TCP port pair on loopback")

    def stop(self):
        # Each shutdown waits out its server's 0.5 s poll: both at once, not one after the other.
        stopping = [threading.Thread(target=server.stop) for server in self.servers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for server in self.servers:
            server.server.server_close()
        self.servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

