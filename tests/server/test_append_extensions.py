"""
MULTIAPPEND (RFC 3502), BINARY (RFC 3516) and CATENATE (RFC 4469) over the wire, on both
backends, from the RFCs' examples.
"""

import base64

import imapclient
import pytest_twisted

from tests.server.clients import commands, inThread, ok, run

FIRST = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar "
         b"<foobar@Blurdybloop.example.COM>\r\nSubject: afternoon meeting\r\n"
         b"To: mooch@owatagu.siam.edu\r\n\r\nHello Joe, do you think we can meet at 3:30?\r\n")
SECOND = (b"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\nFrom: Joe Mooch "
          b"<mooch@OWaTaGu.siam.EDU>\r\nSubject: Re: afternoon meeting\r\n"
          b"To: foobar@blurdybloop.example.com\r\n\r\n3:30 is fine with me.\r\n")


def status(c, mailbox=b"INBOX") -> bytes:
    return ok(c.command(b"st", b"STATUS " + mailbox + b" (MESSAGES)"), b"st")[0]


@pytest_twisted.ensureDeferred
async def test_multiappend_with_synchronising_literals(anyServer):
    # RFC 3502 6's example: one "+" per literal, one APPENDUID for both.
    def script(c):
        c.send(b"A003 APPEND INBOX (\\Seen) {%d}\r\n" % len(FIRST))
        first = c.readline()
        c.send(FIRST + b' (\\Seen) " 7-Feb-1994 22:43:04 -0800" {%d}\r\n' % len(SECOND))
        second = c.readline()
        c.send(SECOND + b"\r\n")
        done = c.readUntilTagged(b"A003")
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        return first, second, done, c.command(b"f", b"FETCH 1:* (FLAGS INTERNALDATE BODY[])")
    first, second, done, fetched = await run(anyServer, script)
    assert first.startswith(b"+ ") and second.startswith(b"+ ")
    assert done[-1].startswith(b"A003 OK [APPENDUID ") and done[-1].split()[4] == b"1:2]"
    fetched = b"\r\n".join(fetched)
    assert FIRST in fetched and SECOND in fetched
    # The same instant, in the zone given or in UTC (a Maildir keeps it as a file time).
    assert (b'INTERNALDATE "07-Feb-1994 22:43:04 -0800"' in fetched
            or b'INTERNALDATE "08-Feb-1994 06:43:04 +0000"' in fetched)


@pytest_twisted.ensureDeferred
async def test_multiappend_is_all_or_nothing(anyServer):
    def script(c):
        empty = c.command(b"a", b"APPEND INBOX {%d+}\r\n%s {0+}\r\n" % (len(FIRST), FIRST))
        badUrl = c.command(b"b", b'APPEND INBOX {%d+}\r\n%s CATENATE (URL "/INBOX;UID=9")'
                           % (len(FIRST), FIRST))
        missing = c.command(b"c", b"APPEND Nowhere {%d+}\r\n%s {%d+}\r\n%s"
                            % (len(FIRST), FIRST, len(SECOND), SECOND))
        # A missing destination is told first, whatever its URLs (imaptest's catenate).
        missingAndBad = c.command(b"d", b'APPEND Nowhere CATENATE (URL "/INBOX;UID=9")')
        return empty, badUrl, missing, missingAndBad, status(c)
    empty, badUrl, missing, missingAndBad, figures = await run(anyServer, script)
    assert empty[-1].startswith(b"a NO")
    assert badUrl[-1].startswith(b'b NO [BADURL "/INBOX;UID=9"]')
    assert missing[-1].startswith(b"c NO [TRYCREATE]")
    assert missingAndBad[-1].startswith(b"d NO [TRYCREATE]")
    assert figures == b'* STATUS "INBOX" (MESSAGES 0)'


@pytest_twisted.ensureDeferred
async def test_multiappend_literals_together_obey_the_append_limit(serve):
    # All of one APPEND is held until the last literal is in (all or nothing), so its
    # literals together may not pass the limit (and one line's length).
    server = serve(appendLimit=2000, maxLineLength=1024)
    big = FIRST + b"x" * (1500 - len(FIRST))

    def script(c):
        c.send(b"a APPEND INBOX {%d}\r\n" % len(big))
        c.readline()
        c.send(big + b" {%d}\r\n" % len(big))  # each fits; both do not
        refused = c.readUntilTagged(b"a")
        return refused, status(c)
    refused, figures = await run(server, script)
    assert refused[0].startswith(b"a NO [TOOBIG]")
    assert figures == b'* STATUS "INBOX" (MESSAGES 0)'


@pytest_twisted.ensureDeferred
async def test_imapclient_multiappend(anyServer):
    def go():
        with imapclient.IMAPClient(anyServer.host, port=anyServer.port, ssl=False,
                                   timeout=10) as client:
            client.login("alice", "alicepw")
            answer = client.multiappend("INBOX", [FIRST, {"msg": SECOND, "flags": [b"\\Seen"]}])
            client.select_folder("INBOX")
            return answer, client.search(["SEEN"]), client.search(["ALL"])
    answer, seen, every = await inThread(go)
    assert b"APPENDUID" in answer[1][0] and seen == [2] and every == [1, 2]


PAYLOAD = bytes(range(256)) * 2  # NULs and every other octet
BINARY_MESSAGE = (
    b"From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =3D ok\r\n"
    b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n")
    + b"--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 x\r\nend\r\n--XX--\r\n")


def literalOf(lines: list[bytes], label: bytes) -> bytes:
    """The octets of the literal after C{label} in a FETCH response's lines."""
    text = b"\r\n".join(lines)
    start = text.index(label)
    sizeStart = text.index(b"{", start) + 1
    sizeEnd = text.index(b"}", sizeStart)
    size = int(text[sizeStart:sizeEnd])
    return text[sizeEnd + 3:sizeEnd + 3 + size]


@pytest_twisted.ensureDeferred
async def test_binary_fetch_undoes_transfer_encodings(anyServer):
    # RFC 3516 4.2 and 4.3.
    def script(c):
        anyServer.deliver(BINARY_MESSAGE)
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        return commands(c, (
            b"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])",
            b"FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] FLAGS)",
            b"FETCH 1 (BINARY.PEEK[2]<250.10>)",
            b"FETCH 1 (BINARY[1])",
            b"FETCH 1 (BINARY.PEEK[3])",
            b"FETCH 1 (BINARY.PEEK[1.HEADER])",
        ))
    text, payload, partial, seen, unknown, bad = await run(anyServer, script)
    # The line break before a boundary belongs to the boundary (RFC 2046 5.1.1).
    assert literalOf(text, b"BINARY[1]") == "café = ok".encode()
    assert b"BINARY.SIZE[1] %d" % len("café = ok".encode()) in b"".join(text)
    assert b"BINARY[2] ~{512}" in b"\r\n".join(payload)  # NULs: a literal8
    assert literalOf(payload, b"BINARY[2]") == PAYLOAD
    assert b"BINARY.SIZE[2] 512" in b"".join(payload) and b"\\Seen" not in b"".join(payload)
    assert literalOf(partial, b"BINARY[2]<250>") == PAYLOAD[250:260]
    assert b"\\Seen" in b"".join(seen)  # BINARY without .PEEK sets \Seen, as BODY does
    assert unknown[-1].startswith(b"A4 NO [UNKNOWN-CTE]")
    assert bad[-1].startswith(b"A5 BAD")


@pytest_twisted.ensureDeferred
async def test_append_takes_a_literal8(anyServer):
    # RFC 3516 4.4: a message with NULs comes as ~{n}.
    message = b"Subject: raw\r\nContent-Transfer-Encoding: binary\r\n\r\nx\x00y\r\n"

    def script(c):
        appended = c.command(b"a", b"APPEND INBOX ~{%d+}\r\n%s" % (len(message), message))
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        return appended, c.command(b"f", b"FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[])")
    appended, fetched = await run(anyServer, script)
    assert appended[-1].startswith(b"a OK [APPENDUID")
    assert literalOf(fetched, b"BINARY[1]") == b"x\x00y\r\n"
    # The part holding NUL is stored base64 (so BODY[] can carry it): the whole message
    # is that stored form, and its part decodes to the octets sent.
    stored = literalOf(fetched, b"BINARY[]")
    assert b"\x00" not in stored and b"Content-Transfer-Encoding: base64" in stored


DRAFT = (b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: draft\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
         b"--BB\r\nContent-Type: text/plain\r\n\r\nThe body.\r\n"
         b"--BB\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         b"JVBERi0=\r\n--BB--\r\n")


@pytest_twisted.ensureDeferred
async def test_catenate_builds_a_message_from_urls_and_text(anyServer):
    # RFC 4469 5's example: a draft's header and attachment, a new text part between.
    def script(c):
        ok(c.command(b"c", b"CREATE Drafts"), b"c")
        appended = c.command(b"d", b"APPEND Drafts (\\Draft) {%d+}\r\n%s" % (len(DRAFT), DRAFT))
        validity = appended[-1].split()[3]
        base = b"/Drafts;UIDVALIDITY=" + validity + b"/;UID=1"
        text = b"--BB\r\nContent-Type: text/plain\r\n\r\nNew text.\r\n--BB\r\n"
        made = c.command(b"A003", b"APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"" + base
                         + b'/;section=HEADER" TEXT {%d+}\r\n%s URL "' % (len(text), text) + base
                         + b'/;section=2.MIME" URL "' + base + b'/;SECTION=2" TEXT {10+}\r\n'
                         b'\r\n--BB--\r\n)')
        ok(c.command(b"s", b"SELECT Drafts"), b"s")
        return made, c.command(b"f", b"FETCH 2 (FLAGS BODY.PEEK[])")
    made, fetched = await run(anyServer, script)
    assert made[-1].startswith(b"A003 OK [APPENDUID ") and made[-1].split()[4] == b"2]"
    expected = DRAFT.replace(b"--BB\r\nContent-Type: text/plain\r\n\r\nThe body.\r\n",
                             b"--BB\r\nContent-Type: text/plain\r\n\r\nNew text.\r\n")
    assert literalOf(fetched, b"BODY[]") == expected
    assert b"$MDNSent" in fetched[0] and b"\\Draft" in fetched[0]


@pytest_twisted.ensureDeferred
async def test_catenate_refuses_urls_it_cannot_use(anyServer):
    def script(c):
        ok(c.command(b"p", b"APPEND INBOX {%d+}\r\n%s" % (len(FIRST), FIRST)), b"p")
        return [c.command(b"b%d" % i, b'APPEND INBOX CATENATE (URL "%s")' % url) for i, url in
                enumerate((b"/INBOX;UIDVALIDITY=1/;UID=1", b"/INBOX/;UID=7",
                           b"imap://bob@localhost/INBOX/;UID=1", b"/Nowhere/;UID=1",
                           b"/INBOX/;UID=1/;SECTION=9", b"http://example.org/x",
                           b"/INBOX/;UID=1/;URLAUTH=anonymous"))] + [status(c)]
    *refusals, figures = await run(anyServer, script)
    assert [r[-1].split(b"]")[0] for r in refusals] == [
        b'b%d NO [BADURL "%s"' % (i, url) for i, url in enumerate((
            b"/INBOX;UIDVALIDITY=1/;UID=1", b"/INBOX/;UID=7",
            b"imap://bob@localhost/INBOX/;UID=1", b"/Nowhere/;UID=1",
            b"/INBOX/;UID=1/;SECTION=9", b"http://example.org/x",
            b"/INBOX/;UID=1/;URLAUTH=anonymous"))]
    assert figures == b'* STATUS "INBOX" (MESSAGES 1)'


@pytest_twisted.ensureDeferred
async def test_multiappend_takes_back_what_it_stored_when_a_later_message_fails(server,
                                                                               monkeypatch):
    # A store that fails half-way (a full disk, say), made to happen by the second append.
    from idlemail.backends.memory import MemoryMailbox
    from idlemail.errors import IMAPError
    real, calls = MemoryMailbox.append, []

    def failing(self, message, flags, date):
        calls.append(1)
        if len(calls) == 2:
            raise IMAPError("No space left on device")
        return real(self, message, flags, date)
    monkeypatch.setattr(MemoryMailbox, "append", failing)

    def script(c):
        answer = c.command(b"a", b"APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s"
                           % (len(FIRST), FIRST, len(SECOND), SECOND))
        return answer, status(c)
    answer, figures = await run(server, script)
    assert answer[-1] == b"a NO No space left on device"
    assert figures == b'* STATUS "INBOX" (MESSAGES 0)' and len(calls) == 2


@pytest_twisted.ensureDeferred
async def test_a_literal8_holding_nul_is_stored_so_body_never_carries_nul(anyServer):
    # RFC 3501 4.3: no NUL in a literal; RFC 3516: BINARY gives back the octets sent.
    # imaptest's append-binary.
    message = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
               b"Content-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n")

    def script(c):
        c.send(b"a APPEND INBOX ~{%d}\r\n" % len(message))
        assert c.readline().startswith(b"+")
        c.send(message + b"\r\n")
        appended = c.readUntilTagged(b"a")
        c.command(b"s", b"SELECT INBOX")
        c.send(b"f FETCH 1 (BODY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1])\r\n")
        data = b""
        while b"\r\nf OK" not in data:
            chunk = c.sock.recv(65536)
            assert chunk, data
            data += chunk
        return appended, data
    appended, data = await run(anyServer, script)
    assert appended[-1].startswith(b"a OK")
    body = data[:data.index(b" BINARY.SIZE[1]")]
    assert b"\x00" not in body and b"AC3k" in body  # base64 of the octets sent
    assert b"BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\n\r\n\n)" in data
