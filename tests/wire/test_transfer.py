"""
Undoing transfer encodings for BINARY (RFC 3516): quoted-printable read as RFC 2045 6.7
says, with imaptest's fetch-binary-mime-qp body as the example.
"""

import pytest

from idlemail.wire.transfer import UnknownTransferEncoding, decodeTransfer

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
