"""
FETCH body sections, ENVELOPE and BODYSTRUCTURE of nested messages over real TCP
(RFC 3501 6.4.5, 7.4.2), read with imaplib, IMAPClient and a raw socket.
"""

import imaplib

import pytest_twisted
from imapclient import IMAPClient

from tests.server.clients import RawClient, inThread

INNER_HEADER = (b"From: Inner <inner@example.org>\r\nSubject: inner\r\n"
                b"Content-Type: multipart/alternative; boundary=i\r\n\r\n")
INNER_BODY = (b"--i\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n"
              b"--i\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--i--\r\n")
INNER = INNER_HEADER + INNER_BODY
MIXED = (b"From: a@example.org\r\nSubject: outer\r\n"
         b"Content-Type: multipart/mixed; boundary=o\r\n\r\npreamble\r\n"
         b"--o\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
         b"--o\r\nContent-Type: message/rfc822\r\nContent-Description: fwd\r\n\r\n" + INNER
         + b"\r\n--o--\r\nepilogue\r\n")
# A message that is itself message/rfc822: its part 1 is the message it holds.
WRAPPED = b"From: outer@example.org\r\nContent-Type: message/rfc822\r\n\r\n" + INNER


def selected(server, script):
    """Run C{script(client)} on a raw client with INBOX selected, in a thread."""
    def go():
        c = RawClient(server.host, server.port)
        try:
            c.login()
            c.command(b"s", b"SELECT INBOX")
            return script(c)
        finally:
            c.close()
    return inThread(go)


def fetchSections(server, *items):
    """FETCH each item of message 1 with imaplib: {item: (response label, octets)}."""
    def go():
        m = imaplib.IMAP4(server.host, server.port)
        try:
            m.login("alice", "alicepw")
            m.select("INBOX")
            out = {}
            for item in items:
                typ, data = m.fetch("1", f"({item})")
                assert typ == "OK", (item, data)
                label, octets = data[0]
                out[item] = (label.split(b"(", 1)[1].rsplit(b" ", 1)[0], octets)
            return out
        finally:
            m.logout()
    return inThread(go)


@pytest_twisted.ensureDeferred
async def test_body_of_a_message_rfc822_part_is_the_whole_encapsulated_message(server):
    server.backend.deliver("alice", MIXED)
    got = await fetchSections(server, "BODY.PEEK[2]", "BODY.PEEK[2.MIME]", "BODY.PEEK[2.HEADER]",
                              "BODY.PEEK[2.TEXT]", "BODY.PEEK[2.1]", "BODY.PEEK[2.2]",
                              "BODY.PEEK[2.1.MIME]", "BODY.PEEK[1]")
    assert got["BODY.PEEK[2]"] == (b"BODY[2]", INNER)
    assert got["BODY.PEEK[2.MIME]"] == (
        b"BODY[2.MIME]", b"Content-Type: message/rfc822\r\nContent-Description: fwd\r\n\r\n")
    assert got["BODY.PEEK[2.HEADER]"] == (b"BODY[2.HEADER]", INNER_HEADER)
    assert got["BODY.PEEK[2.TEXT]"] == (b"BODY[2.TEXT]", INNER_BODY)
    assert got["BODY.PEEK[2.1]"] == (b"BODY[2.1]", b"inner plain")
    assert got["BODY.PEEK[2.2]"] == (b"BODY[2.2]", b"<p>inner</p>")
    assert got["BODY.PEEK[2.1.MIME]"] == (b"BODY[2.1.MIME]", b"Content-Type: text/plain\r\n\r\n")
    assert got["BODY.PEEK[1]"] == (b"BODY[1]", b"hello")


@pytest_twisted.ensureDeferred
async def test_part_one_of_a_message_that_is_message_rfc822(server):
    server.backend.deliver("alice", WRAPPED)
    got = await fetchSections(server, "BODY.PEEK[1]", "BODY.PEEK[1.HEADER]", "BODY.PEEK[1.TEXT]",
                              "BODY.PEEK[1.1]", "BODY.PEEK[1.2]", "BODY.PEEK[TEXT]")
    assert got["BODY.PEEK[1]"] == (b"BODY[1]", INNER)
    assert got["BODY.PEEK[1.HEADER]"] == (b"BODY[1.HEADER]", INNER_HEADER)
    assert got["BODY.PEEK[1.TEXT]"] == (b"BODY[1.TEXT]", INNER_BODY)
    assert got["BODY.PEEK[1.1]"] == (b"BODY[1.1]", b"inner plain")
    assert got["BODY.PEEK[1.2]"] == (b"BODY[1.2]", b"<p>inner</p>")
    assert got["BODY.PEEK[TEXT]"] == (b"BODY[TEXT]", INNER)


@pytest_twisted.ensureDeferred
async def test_header_fields_of_an_encapsulated_message(server):
    server.backend.deliver("alice", MIXED)
    got = await fetchSections(server, "BODY.PEEK[2.HEADER.FIELDS (subject X-None)]",
                              "BODY.PEEK[2.HEADER.FIELDS.NOT (Subject Content-Type)]")
    assert got["BODY.PEEK[2.HEADER.FIELDS (subject X-None)]"] == (
        b"BODY[2.HEADER.FIELDS (SUBJECT X-NONE)]", b"Subject: inner\r\n\r\n")
    assert got["BODY.PEEK[2.HEADER.FIELDS.NOT (Subject Content-Type)]"] == (
        b"BODY[2.HEADER.FIELDS.NOT (SUBJECT CONTENT-TYPE)]",
        b"From: Inner <inner@example.org>\r\n\r\n")


@pytest_twisted.ensureDeferred
async def test_partial_fetch_of_encapsulated_sections(server):
    # RFC 3501 6.4.5: <origin.count>, truncated at the end, empty past it; the header
    # subset is taken before the partial range.
    server.backend.deliver("alice", MIXED)
    got = await fetchSections(server, "BODY.PEEK[2]<0.10>", "BODY.PEEK[2]<6.5>",
                              "BODY.PEEK[2.1]<6.100>", "BODY.PEEK[2.TEXT]<100000.5>",
                              "BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]<0.7>")
    assert got["BODY.PEEK[2]<0.10>"] == (b"BODY[2]<0>", INNER[:10])
    assert got["BODY.PEEK[2]<6.5>"] == (b"BODY[2]<6>", INNER[6:11])
    assert got["BODY.PEEK[2.1]<6.100>"] == (b"BODY[2.1]<6>", b"plain")
    assert got["BODY.PEEK[2.TEXT]<100000.5>"] == (b"BODY[2.TEXT]<100000>", b"")
    assert got["BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]<0.7>"] == (
        b"BODY[2.HEADER.FIELDS (SUBJECT)]<0>", b"Subject")


@pytest_twisted.ensureDeferred
async def test_parts_past_the_end_are_empty_and_the_session_goes_on(server):
    server.backend.deliver("alice", MIXED)

    specs = (b"9", b"1.1.1", b"1.HEADER", b"2.3", b"2.1.TEXT")
    *answers, noop = await selected(server, lambda c: [
        c.command(b"a", b"FETCH 1 (BODY.PEEK[%s])" % spec) for spec in specs
    ] + [c.command(b"n", b"NOOP")])
    for lines, spec in zip(answers, specs):
        assert lines == [b"* 1 FETCH (BODY[%s] {0}" % spec, b")", b"a OK FETCH completed"]
    assert noop[-1] == b"n OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_eight_bit_header_field_name_never_ends_the_connection(server):
    server.backend.deliver("alice", MIXED)

    def script(c):
        c.send(b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS ({4}\r\n")
        cont = c.readline()
        c.send(b"caf\xe9)])\r\n")
        return cont, c.readUntilTagged(b"a"), c.command(b"n", b"NOOP")
    cont, answer, noop = await selected(server, script)
    assert cont.startswith(b"+")
    assert answer[-1].split()[1] in (b"OK", b"NO", b"BAD"), answer
    assert not any(line.startswith(b"* BYE") for line in answer)
    assert noop[-1] == b"n OK NOOP completed"


@pytest_twisted.ensureDeferred
async def test_bodystructure_of_a_message_rfc822_part(server):
    server.backend.deliver("alice", MIXED)

    lines = await selected(server, lambda c: c.command(b"a", b"FETCH 1 (BODY)"))
    # RFC 3501 7.4.2: after the basic fields, the envelope, body structure and line count
    # of the encapsulated message.
    assert lines[0] == (
        b'* 1 FETCH (BODY (("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 5 1)'
        b'("MESSAGE" "RFC822" NIL NIL "fwd" "7BIT" %d '
        b'(NIL "inner" (("Inner" NIL "inner" "example.org")) (("Inner" NIL "inner" "example.org")) '
        b'(("Inner" NIL "inner" "example.org")) NIL NIL NIL NIL NIL) '
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 11 1)'
        b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1) "ALTERNATIVE") %d) "MIXED"))'
        % (len(INNER), INNER.count(b"\n")))


ENVELOPE_HEADER = (b"Date: Sat, 01 Feb 2007 01:02:03 +0200\r\n"
                   b"From: user@domain (Real Name)\r\n"
                   b"Sender: \r\n"
                   b"To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n"
                   b"Cc: empty:;\r\n"
                   b"Bcc: <@route1,@route2:user@domain>, <user-from (comment)@ (comment) domain.org>\r\n"
                   b"\r\nbody\r\n")


@pytest_twisted.ensureDeferred
async def test_envelope_groups_routes_and_comments_on_the_wire(server):
    server.backend.deliver("alice", ENVELOPE_HEADER)

    lines = await selected(server, lambda c: c.command(b"a", b"FETCH 1 ENVELOPE"))
    real = b'(("Real Name" NIL "user" "domain"))'
    assert lines[0] == (
        b'* 1 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL ' + real + b" " + real
        + b" " + real + b' ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")'
        b'(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) '
        b'((NIL NIL "empty" NIL)(NIL NIL NIL NIL)) '
        b'((NIL "@route1,@route2" "user" "domain")(NIL NIL "user-from" "domain.org")) NIL NIL))')


@pytest_twisted.ensureDeferred
async def test_imapclient_reads_the_envelope_groups_and_route(server):
    server.backend.deliver("alice", ENVELOPE_HEADER)

    def go():
        with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as client:
            client.login("alice", "alicepw")
            client.select_folder("INBOX", readonly=True)
            return client.fetch([1], ["ENVELOPE"])[1][b"ENVELOPE"]
    env = await inThread(go)
    assert [(a.name, a.mailbox, a.host) for a in env.to] == [
        (None, b"group", None), (None, b"g1", b"d1.org"), (None, b"g2", b"d2.org"),
        (None, None, None), (None, b"group2", None), (None, b"g3", b"d3.org"), (None, None, None)]
    assert [(a.route, a.mailbox, a.host) for a in env.bcc][0] == (b"@route1,@route2", b"user",
                                                                 b"domain")
    assert env.sender[0].name == b"Real Name" and env.reply_to[0].mailbox == b"user"
    assert env.cc is not None and env.cc[0].mailbox == b"empty"
