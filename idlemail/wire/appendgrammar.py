"""
The grammar of APPEND: one message or several (MULTIAPPEND, RFC 3502), each a literal, a
literal8 (BINARY, RFC 3516 4.4) or a CATENATE list of text literals and IMAP URLs
(RFC 4469 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idlemail.wire.reader import Reader


@dataclass(frozen=True, slots=True)
class CatenatePart:
    """One part of a CATENATE: C{kind} is C{"TEXT"} (C{data} the octets) or C{"URL"}
    (C{data} the URL as sent)."""

    kind: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """C{flags} are already checked and spelled as the RFC spells system flags. The message
    is C{message} (C{binary} if sent as a literal8), or else made of C{catenate}'s parts."""

    flags: tuple[str, ...]
    date: datetime | None
    message: bytes | None = None
    catenate: tuple[CatenatePart, ...] = ()
    binary: bool = False


@dataclass(frozen=True, slots=True)
class AppendArgs:
    mailbox: bytes
    messages: tuple[AppendMessage, ...]


def append(r: Reader, uid: bool) -> AppendArgs:
    r.sp()
    mailbox = r.astring("a mailbox name")
    messages = []
    while r.maybe(b" "):
        messages.append(_message(r))
    if not messages:
        r.fail("Expected a message")
    return AppendArgs(mailbox, tuple(messages))


def _message(r: Reader) -> AppendMessage:
    flags: list[str] = []
    date = None
    if r.peek() == 0x28:
        flags = r.flagList()
        r.sp()
    if r.peek() == 0x22:
        date = r.dateTime()
        r.sp()
    if r.maybe(b"CATENATE "):
        return AppendMessage(tuple(flags), date, catenate=_catenate(r))
    binary = r.peek() == 0x7E  # ~{n}
    return AppendMessage(tuple(flags), date, r.literal(binary=True), binary=binary)


def _catenate(r: Reader) -> tuple[CatenatePart, ...]:
    r.expect(b"(", "a list of CATENATE parts")
    parts: list[CatenatePart] = []
    while not r.maybe(b")"):
        if parts:
            r.sp()
        kind = r.atom(what="TEXT or URL").upper()
        r.sp()
        if kind == "TEXT":
            parts.append(CatenatePart(kind, r.literal(binary=True)))
        elif kind == "URL":
            parts.append(CatenatePart(kind, r.astring("a URL")))
        else:
            r.fail(f"Unknown CATENATE part {kind}")
    if not parts:
        r.fail("Expected CATENATE parts")
    return tuple(parts)
