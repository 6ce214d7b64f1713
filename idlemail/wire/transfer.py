"""
Undoing a MIME part's Content-Transfer-Encoding (RFC 2045 6) for BINARY (RFC 3516): the
octets of a part as they were before they were made 7-bit for mail.
"""

from __future__ import annotations

import binascii
import re

from idlemail.wire.message import MessageStructure, Section, boundaryDelimiters

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


_CTE = "content-transfer-encoding"


def encodeBinaryParts(raw: bytes, defaultType: str = "text/plain", depth: int = 0) -> bytes:
    """
    A message APPENDed as a literal8 (RFC 3516 4.4) may hold NUL, which no IMAP literal
    can carry back in BODY[] (RFC 3501 4.3): each part whose body holds NUL is stored
    base64-encoded instead, its header saying so, so that BODY[] shows base64 and
    BINARY[] gives back the very octets that were sent. Everything else stays as it was.
    """
    if b"\0" not in raw:
        return raw
    # The depth goes down with the parts: past MessageStructure's bound a part is a leaf,
    # so a message nested without end costs no more than it does to FETCH.
    s = MessageStructure(raw, defaultType, depth)
    if s.isMessage:
        return s.headerBytes + encodeBinaryParts(s.bodyBytes, depth=depth + 1)
    if s.isMultipart:
        body = s.bodyBytes
        delim = b"--" + s.typeParams["boundary"].encode("utf-8", "replace")
        marks = list(boundaryDelimiters(body, delim))
        if not marks:
            return raw
        default = "message/rfc822" if s.subType == "digest" else "text/plain"
        out = [s.headerBytes, body[:marks[0][0]]]
        for (start, contentStart, closing), nxt in zip(marks, marks[1:] + [None]):
            end = nxt[0] if nxt is not None else len(body)
            out.append(body[start:contentStart])
            chunk = body[contentStart:end]
            out.append(chunk if closing else encodeBinaryParts(chunk, default, depth + 1))
        return b"".join(out)
    if b"\0" not in s.bodyBytes:
        return raw  # a NUL in the header is the header's business
    fields = [data if data.endswith(b"\n") else data + b"\r\n"
              for name, data in s.fields if name != _CTE]
    encoded = binascii.b2a_base64(s.bodyBytes, newline=False)
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    return (b"".join(fields) + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + b"\r\n".join(lines) + b"\r\n")
