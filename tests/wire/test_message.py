"""
FETCH sections, ENVELOPE and BODYSTRUCTURE of plain, multipart and nested messages.
"""

import pytest

from idlemail.wire.message import MessageStructure, Section

PLAIN = (b"From: Alice Example <alice@example.org>\r\n"
         b"To: bob@example.org, \"Carol C\" <carol@example.net>\r\n"
         b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
         b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
         b"Message-ID: <m1@example.org>\r\n"
         b"\r\n"
         b"line one\r\nline two\r\n")

MULTI = (b"From: a@example.org\r\n"
         b"Subject: parts\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
         b"\r\n"
         b"preamble\r\n"
         b"--XX\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"\r\n"
         b"hello\r\n"
         b"--XX\r\n"
         b"Content-Type: message/rfc822\r\n"
         b"\r\n"
         b"Subject: inner\r\n"
         b"From: c@example.net\r\n"
         b"\r\n"
         b"inner body\r\n"
         b"--XX\r\n"
         b"Content-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
         b"\r\n"
         b"AAEC\r\n"
         b"--XX--\r\n"
         b"epilogue\r\n")


def test_whole_header_and_text_sections_are_byte_exact():
    m = MessageStructure.parse(PLAIN)
    assert m.section(Section()) == PLAIN
    header, body = PLAIN.split(b"\r\n\r\n", 1)
    assert m.section(Section(text="HEADER")) == header + b"\r\n\r\n"
    assert m.section(Section(text="TEXT")) == body
    assert m.section(Section((1,))) == body


@pytest.mark.parametrize("text, fields, expected", [
    ("HEADER.FIELDS", ("SUBJECT",), b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n"),
    ("HEADER.FIELDS", ("X-NONE",), b"\r\n"),
    ("HEADER.FIELDS.NOT", ("FROM", "TO", "DATE", "MESSAGE-ID"),
     b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n"),
])
def test_header_fields(text, fields, expected):
    assert MessageStructure.parse(PLAIN).section(Section((), text, fields)) == expected


def test_header_is_decoded_for_search():
    m = MessageStructure.parse(PLAIN)
    assert m.header("subject") == "café"
    assert m.header("x-missing") is None


def test_envelope_lists_addresses():
    env = MessageStructure.parse(PLAIN).envelope()
    assert env.startswith(b'("Tue, 24 Nov 2026 10:00:00 +0000" "=?utf-8?q?caf=C3=A9?=" '
                          b'(("Alice Example" NIL "alice@example.org" NIL))'[:60])
    assert b'(("Alice Example" NIL "alice" "example.org"))' in env
    assert b'((NIL NIL "bob" "example.org")("Carol C" NIL "carol" "example.net"))' in env
    assert env.endswith(b'NIL NIL NIL "<m1@example.org>")')


def test_plain_bodystructure():
    bs = MessageStructure.parse(PLAIN).bodystructure(False)
    assert bs == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 2)'


def test_multipart_parts_are_addressable():
    m = MessageStructure.parse(MULTI)
    assert m.section(Section((1,))) == b"hello"
    assert m.section(Section((1,), "MIME")) == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert m.section(Section((2,), "HEADER")) == b"Subject: inner\r\nFrom: c@example.net\r\n\r\n"
    assert m.section(Section((2,), "TEXT")) == b"inner body"
    assert m.section(Section((2, 1))) == b"inner body"
    assert m.section(Section((3,))) == b"AAEC"
    assert m.section(Section((4,))) is None


def test_multipart_bodystructure_nests():
    bs = MessageStructure.parse(MULTI).bodystructure(True)
    assert bs.startswith(b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)')
    assert b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' in bs
    assert b'"BASE64" 4 NIL ("ATTACHMENT" ("FILENAME" "a.bin")) NIL NIL)' in bs
    assert bs.endswith(b' "MIXED" ("BOUNDARY" "XX") NIL NIL NIL)')
    assert bs.count(b"(") == bs.count(b")")


def test_message_without_body_or_header():
    m = MessageStructure.parse(b"Subject: only header\r\n")
    assert m.section(Section(text="TEXT")) == b""
    assert m.bodystructure(False).startswith(b'("TEXT" "PLAIN"')
    empty = MessageStructure.parse(b"")
    assert empty.envelope() == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
