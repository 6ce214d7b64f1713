"""
SEARCH over real TCP (RFC 3501 6.4.4): header and address matching, decoded text, charsets.
"""

import imaplib

import pytest_twisted
from imapclient import IMAPClient

from tests.server.clients import RawClient, inThread

# The address forms RFC 5322 allows, one message each (numbers 1-6).
ADDRESSED = [
    b"From: user-from@domain.org\r\nTo: user-to@domain.org\r\nCc: user-cc@domain.org\r\n"
    b"Bcc: user-bcc@domain.org\r\n\r\nbody1\r\n",
    b"From: RealFrom <user-from@domain.org>\r\nTo: RealTo <user-to@domain.org>\r\n\r\nbody2\r\n",
    b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: <user-to@domain.org>\r\n\r\nbody3\r\n",
    b"From: user-from@domain.org (RealFrom)\r\nTo: user-to@domain.org (RealTo)\r\n\r\nbody4\r\n",
    b"From: user-from1@domain.org, user-from2@domain.org\r\nCc: user-cc@domain.org\r\n\r\nbody5\r\n",
    b"To: groupname: groupuser1@domain.org, groupuser2@domain.org;,\r\n"
    b"  groupname2: groupuser3@domain.org;\r\n\r\nbody6\r\n",
]


def search(server, *criteria: bytes):
    """Run each SEARCH on a raw connection; the result lines, tagged line last."""
    def go():
        c = RawClient(server.host, server.port)
        try:
            c.login()
            c.command(b"s", b"SELECT INBOX")
            return [c.command(b"a", b"SEARCH " + text) for text in criteria]
        finally:
            c.close()
    return inThread(go)


def found(lines) -> list[int]:
    assert lines[-1].startswith(b"a OK"), lines
    (result,) = [line for line in lines if line.startswith(b"* SEARCH")]
    return [int(n) for n in result.split()[2:]]


@pytest_twisted.ensureDeferred
async def test_addresses_match_with_comments_display_names_and_groups(server):
    for raw in ADDRESSED:
        server.backend.deliver("alice", raw)
    queries = {
        b"FROM user-from@domain.org": [1, 2, 3, 4],
        b"TO user-to@domain.org": [1, 2, 3, 4],
        b"CC user-cc@domain.org": [1, 5],
        b"FROM realfrom": [2, 4],  # a display name, or the comment that stands for one
        b"TO ealt": [2, 4],
        b"FROM ser-fro": [1, 2, 3, 4, 5],
        b"FROM comment": [],  # comments inside the address are not part of it
        b"FROM user-from2": [5],
        b"TO groupname": [6],
        b"TO groupuser3": [6],
        b"TO groupuser4": [],
        b'FROM "RealFrom <user-from@"': [2, 4],
        b'HEADER TO ""': [1, 2, 3, 4, 6],
        b'BCC ""': [1],
    }
    answers = await search(server, *queries)
    assert {q: found(a) for q, a in zip(queries, answers)} == queries


@pytest_twisted.ensureDeferred
async def test_header_matches_any_field_of_that_name(server):
    server.backend.deliver("alice", b"X-Tag: first\r\nX-Tag: second\r\nReceived: by a\r\n"
                                    b"Received: by b\r\n\r\nbody\r\n")
    server.backend.deliver("alice", b"X-Tag: first\r\n\r\nbody\r\n")
    answers = await search(server, b"HEADER X-Tag second", b"HEADER x-tag FIRST",
                           b'HEADER Received "by b"', b'HEADER X-Other ""', b'NOT HEADER x-tag second')
    assert [found(a) for a in answers] == [[1], [1, 2], [1], [], [2]]


ENCODED = (b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\n"
           b"Subject: =?utf-8?q?caf=C3=A9?=\r\n =?utf-8?q?_cr=C3=A8me?=\r\n"
           b"X-Label: =?iso-8859-1?q?gr=FCn?=\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve text\r\n"
           b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nZmHnYWRl\r\n--b--\r\n")


@pytest_twisted.ensureDeferred
async def test_subject_header_and_body_match_decoded_text(server):
    server.backend.deliver("alice", ENCODED)
    server.backend.deliver("alice", b"Subject: plain\r\n\r\nnothing here\r\n")

    def go():
        # imaplib sends the 8-bit search strings as literals after CHARSET UTF-8.
        m = imaplib.IMAP4(server.host, server.port)
        try:
            m.login("alice", "alicepw")
            m.select("INBOX")
            out = []
            for key, text in [("SUBJECT", "café crème"), ("HEADER X-Label", "GRÜN"),
                              ("FROM", "josé"), ("BODY", "naïve"), ("TEXT", "façade"),
                              ("TEXT", "Crème"), ("BODY", "crème")]:
                m.literal = text.encode("utf-8")
                typ, data = m.search("UTF-8", *key.split())
                out.append((typ, data[0]))
            return out
        finally:
            m.logout()
    answers = await inThread(go)
    assert answers == [("OK", b"1")] * 6 + [("OK", b"")]


@pytest_twisted.ensureDeferred
async def test_imapclient_searches_with_utf8_literals(server):
    server.backend.deliver("alice", ENCODED)

    def go():
        with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as client:
            client.login("alice", "alicepw")
            client.select_folder("INBOX", readonly=True)
            return (client.search(["SUBJECT", "café"], charset="UTF-8"),
                    client.search(["FROM", "José"], charset="utf-8"))
    assert await inThread(go) == ([1], [1])


@pytest_twisted.ensureDeferred
async def test_unsupported_charset_is_no_badcharset(server):
    server.backend.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
    answers = await search(server, b"CHARSET KOI8-R SUBJECT hi", b'CHARSET "us-ascii" SUBJECT hi',
                           b"CHARSET utf-8 SUBJECT hi", b"CHARSET UTF-8 FROBNICATE")
    # RFC 3501 6.4.4: a tagged NO (not a BAD) with the BADCHARSET code listing those we take.
    assert answers[0] == [b"a NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R"]
    assert found(answers[1]) == [1] and found(answers[2]) == [1]
    assert answers[3][-1].startswith(b"a BAD")
