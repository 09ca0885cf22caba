"""A line of the message that starts with a dot reaches the server as written (RFC 5321
§4.5.2): the transport doubles the dot and the server takes it off again; a message that
does not end in CRLF still gets a proper end of data."""
import pytest

from lib.smtp import SMTPTransport, data_section

HEAD = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: dots\r\n\r\n"
BODIES = [
    b"no dot at a line start\r\n",
    b".first line\r\n",
    b"line\r\n.\r\nthe line above is a lone dot\r\n",
    b"line\r\n..two dots\r\n...three\r\n",
    b"ends with a dot line\r\n.",
]


def test_data_section_doubles_exactly_the_dots_that_start_a_line_and_ends_the_data():
    assert data_section(b"a.b\r\nc.\r\n") == b"a.b\r\nc.\r\n.\r\n"
    assert data_section(b".a\r\n.\r\n..b\r\nc") == b"..a\r\n..\r\n...b\r\nc\r\n.\r\n"


@pytest.mark.parametrize("body", BODIES)
def test_the_server_stores_each_line_as_the_message_had_it(smtp_server, body):
    transport = SMTPTransport(host=smtp_server.host, port=smtp_server.port, timeout=5)
    transport.open()
    try:
        code, _reply = transport.send("a@example.com", "b@example.org", HEAD + body)
    finally:
        transport.close()
    assert code == 250
    stored = smtp_server.messages[0].data.replace(b"\r\n", b"\n")
    assert stored.split(b"\n\n", 1)[1].rstrip(b"\n") == body.replace(b"\r\n", b"\n").rstrip(b"\n")
