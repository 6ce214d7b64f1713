"""
Encoding IMAP data items for responses (RFC 3501 section 4): strings, lists, NIL.
"""

from __future__ import annotations

_QUOTABLE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def _asBytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def string(value: bytes | str) -> bytes:
    """
    A quoted string where that is safe, else a synchronizing literal.
    """
    data = _asBytes(value)
    if len(data) < 1024 and all(b in _QUOTABLE for b in data):
        return b'"' + data + b'"'
    return b"{%d}\r\n" % len(data) + data


def nstring(value: bytes | str | None) -> bytes:
    """C{NIL} for None, else L{string}."""
    return b"NIL" if value is None else string(value)


def literal(value: bytes) -> bytes:
    """Always a literal (for message bodies)."""
    return b"{%d}\r\n" % len(value) + value


def plist(items) -> bytes:
    """A parenthesised list of already encoded items."""
    return b"(" + b" ".join(items) + b")"


def flagList(flags) -> bytes:
    """A flag list, system flags first, then keywords, each sorted; C{\\*} last."""
    ordered = sorted(flags, key=lambda f: (f == "\\*", not f.startswith("\\"), f.lower()))
    return plist(f.encode("ascii") for f in ordered)


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def dateTime(when) -> bytes:
    """An IMAP date-time (RFC 3501 9), quoted, in C{when}'s own offset: INTERNALDATE,
    and APPEND's date argument."""
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} '
            f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} '
            f'{sign}{minutes // 60:02d}{minutes % 60:02d}"').encode()


def date(when) -> bytes:
    """An IMAP date (RFC 3501 9), e.g. C{1-Feb-2024}: SEARCH's SINCE, BEFORE, ON."""
    return f"{when.day}-{_MONTHS[when.month - 1]}-{when.year:04d}".encode()
