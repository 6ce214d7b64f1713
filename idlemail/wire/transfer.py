"""
Undoing a MIME part's Content-Transfer-Encoding (RFC 2045 6) for BINARY (RFC 3516): the
octets of a part as they were before they were made 7-bit for mail.
"""

from __future__ import annotations

import binascii
import re

from idlemail.wire.message import MessageStructure, Section

_IDENTITY = {"", "7bit", "8bit", "binary"}


class UnknownTransferEncoding(ValueError):
    """RFC 3516 4.3: an encoding the server cannot undo ([UNKNOWN-CTE])."""


def decodeTransfer(data: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return data
    if encoding == "base64":
        try:
            return binascii.a2b_base64(data)  # not strict: line breaks and junk skipped
        except binascii.Error as e:
            raise UnknownTransferEncoding(f"broken base64: {e}") from None
    if encoding == "quoted-printable":
        return decodeQuotedPrintable(data)
    raise UnknownTransferEncoding(f"unknown transfer encoding {encoding!r}")


_LINE_END = re.compile(rb"\r?\n")
_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decodeQuotedPrintable(data: bytes) -> bytes:
    """
    RFC 2045 6.7: whitespace at the end of a line is padding added in transport and goes
    (rule 3); a line that then ends in "=" is a soft break (rule 5); =XX is the octet XX;
    an "=" not followed by two hex digits is kept as it is (the robust reading 6.7 asks
    for). Hard line breaks come out as CRLF.
    """
    lines = _LINE_END.split(data)
    out = []
    for i, line in enumerate(lines):
        line = line.rstrip(b" \t")
        last = i == len(lines) - 1
        soft = line.endswith(b"=")
        if soft:
            line = line[:-1]
        out.append(_ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), line))
        if not soft and not last:
            out.append(b"\r\n")
    return b"".join(out)


def binarySection(structure: MessageStructure, part: tuple) -> bytes | None:
    """
    C{BINARY[part]}: the part's body with its transfer encoding undone; the whole message
    as stored for C{BINARY[]}; None if there is no such part.
    """
    if not part:
        return structure.raw
    body = structure.section(Section(part))
    if body is None:
        return None
    header = structure.section(Section(part, "MIME")) or b""
    encoding = MessageStructure.parse(header + b"\r\n").rawHeader("content-transfer-encoding")
    return decodeTransfer(body, encoding)
