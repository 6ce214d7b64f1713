"""
Undoing a MIME part's Content-Transfer-Encoding (RFC 2045 6) for BINARY (RFC 3516): the
octets of a part as they were before they were made 7-bit for mail.
"""

from __future__ import annotations

import binascii
import quopri

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
        return quopri.decodestring(data)
    raise UnknownTransferEncoding(f"unknown transfer encoding {encoding!r}")


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
