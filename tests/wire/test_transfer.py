"""
Undoing transfer encodings for BINARY (RFC 3516): quoted-printable read as RFC 2045 6.7
says, with imaptest's fetch-binary-mime-qp body as the example.
"""

import pytest

from idlemail.wire.message import MessageStructure, Section
from idlemail.wire.transfer import (
    UnknownTransferEncoding,
    binarySection,
    decodeTransfer,
    encodeBinaryParts,
)

# The part's body as stored (CRLF line ends; the CRLF before the boundary is the
# boundary's), line by line.
QP_BODY = b"\r\n".join([
    b"hello  ",  # trailing whitespace: transport padding, removed
    b"bar=",  # soft break
    b"",
    b"foo\t=",  # soft break after a tab, which stays
    b"bar",
    b"foo\t \t= ",  # "=" then padding is a soft break too
    b"=62",
    b"foo = \t",
    b"bar",
    b"foo =",
    b"=62",
    b"foo  ",
    b"bar=",
    b"",
    b"foo_bar",
    b"",
])


def test_quoted_printable_drops_padding_and_joins_soft_breaks():
    assert decodeTransfer(QP_BODY, "Quoted-Printable") == (
        b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\n"
        b"foo_bar\r\n")


def test_quoted_printable_keeps_an_equals_sign_that_escapes_nothing():
    assert decodeTransfer(b"a=3Db =ZZ c=4", "quoted-printable") == b"a=b =ZZ c=4"


def test_an_unknown_encoding_is_refused():
    with pytest.raises(UnknownTransferEncoding):
        decodeTransfer(b"x", "x-uuencode")


BINARY_HEADER = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
                 b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
                 b"\r\n")
BINARY_BODY = b"\x00-\xe4\n\r\n\n"  # imaptest's append-binary: NUL, bare LFs


def test_a_part_holding_nul_is_stored_base64_and_decodes_to_the_octets_sent():
    stored = encodeBinaryParts(BINARY_HEADER + BINARY_BODY)
    assert b"\x00" not in stored
    s = MessageStructure.parse(stored)
    assert s.rawHeaders("content-transfer-encoding") == ["base64"]
    assert s.rawHeader("content-type") == "application/octet-stream"
    assert binarySection(s, (1,)) == BINARY_BODY


def test_only_the_parts_holding_nul_change_in_a_multipart():
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nplain text\r\n--b\r\n" + BINARY_HEADER
           + BINARY_BODY + b"\r\n--b--\r\nepilogue\r\n")
    stored = encodeBinaryParts(raw)
    s = MessageStructure.parse(stored)
    assert b"\x00" not in stored and stored.startswith(raw[:raw.index(b"--b\r\nFrom:")])
    assert s.section(Section((1,))) == b"plain text"
    assert binarySection(s, (2,)) == BINARY_BODY
    assert stored.endswith(b"\r\n--b--\r\nepilogue\r\n")


def test_a_message_without_nul_is_stored_as_sent():
    raw = BINARY_HEADER + b"no nul here\r\n"
    assert encodeBinaryParts(raw) is raw


def test_a_message_nested_without_end_is_encoded_within_the_depth_bound():
    # Each level a message/rfc822 part: past the parser's depth bound the rest is one
    # leaf (base64 as a whole), never a recursion as deep as the nesting.
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 5000 + BINARY_HEADER + BINARY_BODY
    stored = encodeBinaryParts(raw)
    assert b"\x00" not in stored
