"""
Parsing server responses (RFC 3501 section 7) into typed values. No Twisted imports.

The client protocol collects one logical response first: a line, and for every line that
ends in C{{n}}, the n octets of the literal and the rest of the response after them. The
parser sees the line with each literal's place marked and the literals in order.

Whatever a server sends, parsing costs time and memory in proportion to the response:
lists are read with an explicit stack (no recursion), nested at most L{MAX_DEPTH} deep, and
a range such as C{VANISHED 1:4294967295} stays a range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


MAX_DEPTH = 100  # parenthesised lists; a BODYSTRUCTURE of 40 nested multiparts needs ~80


class ResponseParseError(ValueError):
    pass


@dataclass(frozen=True)
class Tagged:
    tag: str
    status: str  # OK | NO | BAD
    code: tuple | None
    text: str


@dataclass(frozen=True)
class Continuation:
    text: str


@dataclass(frozen=True)
class Status:
    status: str  # OK | NO | BAD | PREAUTH | BYE
    code: tuple | None
    text: str


@dataclass(frozen=True)
class Exists:
    n: int


@dataclass(frozen=True)
class Recent:
    n: int


@dataclass(frozen=True)
class Expunge:
    seq: int


@dataclass(frozen=True)
class Fetch:
    seq: int
    items: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Capability:
    names: frozenset


@dataclass(frozen=True)
class Search:
    numbers: tuple


@dataclass(frozen=True)
class Flags:
    flags: tuple


@dataclass(frozen=True)
class ListItem:
    flags: tuple
    delimiter: str | None
    name: str


@dataclass(frozen=True)
class StatusItem:
    mailbox: str
    items: dict


@dataclass(frozen=True)
class Vanished:
    """RFC 7162 3.2.10: UIDs gone, as ranges; C{earlier} when it answers a QRESYNC SELECT."""

    earlier: bool
    ranges: tuple  # ((first, last), ...) ascending as sent

    def __iter__(self):
        for first, last in self.ranges:
            yield from range(first, last + 1)


@dataclass(frozen=True)
class Enabled:
    names: frozenset


@dataclass(frozen=True)
class Other:
    kind: str
    raw: bytes


class Literal(bytes):
    """A string that arrived as a literal (kept apart from atoms)."""


_NUMBER = re.compile(rb"^\d{1,20}$")  # no 5,000-digit int() to convert


class _Tokens:
    """Reads IMAP data items: atoms, numbers, quoted strings, literals, NIL, lists."""

    def __init__(self, line: bytes, literals: list[bytes]):
        self.s, self.pos, self.literals = line, 0, literals
        self.nextLiteral = 0  # an index, not pop(0): many literals cost linear time

    def eof(self) -> bool:
        return self.pos >= len(self.s)

    def peek(self) -> int | None:
        return self.s[self.pos] if self.pos < len(self.s) else None

    def skipSpace(self) -> None:
        while self.peek() == 0x20:
            self.pos += 1

    def rest(self) -> bytes:
        out = self.s[self.pos:]
        self.pos = len(self.s)
        return out

    def atom(self) -> bytes:
        start = self.pos
        depth = 0
        while self.pos < len(self.s):
            c = self.s[self.pos]
            if c == 0x5B:  # [ : a section, e.g. BODY[HEADER.FIELDS (A B)]
                depth += 1
            elif c == 0x5D:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in b" ()\"{":
                break
            self.pos += 1
        if self.pos == start:
            raise ResponseParseError(f"expected an atom at {self.pos} in {self.s!r}")
        return self.s[start:self.pos]

    def quoted(self) -> bytes:
        self.pos += 1
        out = bytearray()
        while self.pos < len(self.s):
            c = self.s[self.pos]
            if c == 0x5C and self.pos + 1 < len(self.s):
                out.append(self.s[self.pos + 1])
                self.pos += 2
                continue
            if c == 0x22:
                self.pos += 1
                return bytes(out)
            out.append(c)
            self.pos += 1
        raise ResponseParseError("unterminated quoted string")

    def value(self):
        """One data item; a parenthesised list is read with a stack, not recursion."""
        stack: list[list] = []
        while True:
            self.skipSpace()
            c = self.peek()
            if c is None:
                raise ResponseParseError("unterminated list" if stack else
                                         "unexpected end of response")
            if c == 0x28:  # (
                if len(stack) >= MAX_DEPTH:
                    raise ResponseParseError(f"lists nested deeper than {MAX_DEPTH}")
                self.pos += 1
                stack.append([])
                continue
            if c == 0x29 and stack:  # )
                self.pos += 1
                item = stack.pop()
            else:
                item = self.scalar(c)
            if not stack:
                return item
            stack[-1].append(item)

    def scalar(self, c: int):
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:  # {n} : the literal's octets come from the literal list
            end = self.s.find(b"}", self.pos)
            if end < 0:
                raise ResponseParseError("unterminated literal marker")
            self.pos = end + 1
            if self.nextLiteral >= len(self.literals):
                raise ResponseParseError("literal missing")
            self.nextLiteral += 1
            return Literal(self.literals[self.nextLiteral - 1])
        word = self.atom()
        if word.upper() == b"NIL":
            return None
        if _NUMBER.match(word):
            return int(word)
        return word


def _flag(value) -> str:
    """One flag of a flag list: only atoms go there, so NIL is the keyword "NIL"."""
    return "NIL" if value is None else _text(value)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _code(t: _Tokens) -> tuple | None:
    t.skipSpace()
    if t.peek() != 0x5B:
        return None
    end = t.s.find(b"]", t.pos)
    if end < 0:
        return None
    inner = t.s[t.pos + 1:end]
    t.pos = end + 1
    name, _, arg = inner.partition(b" ")
    name = name.decode("ascii", "replace").upper()
    if not arg:
        return (name,)
    if name == "CAPABILITY":
        return (name, frozenset(a.decode("ascii", "replace").upper() for a in arg.split()))
    if name in ("UIDVALIDITY", "UIDNEXT", "UNSEEN", "HIGHESTMODSEQ") and arg.isdigit():
        return (name, int(arg))
    if name == "PERMANENTFLAGS":
        flags = arg.strip(b"()").split()
        return (name, tuple(f.decode("ascii", "replace") for f in flags))
    return (name, arg.decode("utf-8", "replace"))


def _fetchItems(values: list) -> dict:
    items: dict = {}
    it = iter(values)
    for key in it:
        try:
            value = next(it)
        except StopIteration:
            raise ResponseParseError("FETCH item without value")
        name = _text(key).upper() if not isinstance(key, int) else str(key)
        if name == "FLAGS":
            value = tuple(_flag(f) for f in value or ())
        elif name == "MODSEQ":  # RFC 7162: MODSEQ (n)
            value = value[0] if isinstance(value, list) and value else value
            if not isinstance(value, int):
                raise ResponseParseError("MODSEQ without a number")
        elif name.startswith("BODY[") or name.startswith("BINARY[") or name.startswith("RFC822"):
            if isinstance(value, str):
                value = value.encode()
        items[name] = value
    return items


_RANGE = re.compile(rb"^(\d{1,10})(?::(\d{1,10}))?$")


def uidRanges(text: bytes) -> tuple:
    """C{b"41,43:116"} -> C{((41, 41), (43, 116))}; never expanded into single UIDs."""
    out = []
    for part in text.split(b","):
        m = _RANGE.match(part)
        if m is None:
            raise ResponseParseError(f"bad UID set {text[:60]!r}")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        out.append((min(a, b), max(a, b)))
    return tuple(out)


def _vanished(t: _Tokens) -> Vanished:
    earlier = False
    if t.peek() == 0x28:
        tags = t.value()
        earlier = any(_text(x).upper() == "EARLIER" for x in tags)
        t.skipSpace()
    return Vanished(earlier, uidRanges(t.rest().strip()))


def parseResponse(line: bytes, literals: list[bytes] = ()) -> object:
    t = _Tokens(bytes(line), list(literals))
    if line.startswith(b"+"):
        return Continuation(_text(line[1:].strip()))
    if line.startswith(b"* "):
        t.pos = 2
        first = t.atom()
        upper = first.upper()
        if upper in (b"OK", b"NO", b"BAD", b"PREAUTH", b"BYE"):
            code = _code(t)
            t.skipSpace()
            return Status(upper.decode(), code, _text(t.rest()))
        if _NUMBER.match(first):
            n = int(first)
            t.skipSpace()
            kind = t.atom().upper()
            if kind == b"EXISTS":
                return Exists(n)
            if kind == b"RECENT":
                return Recent(n)
            if kind == b"EXPUNGE":
                return Expunge(n)
            if kind == b"FETCH":
                values = t.value()
                if not isinstance(values, list):
                    raise ResponseParseError("FETCH without a list")
                return Fetch(n, _fetchItems(values))
            return Other(kind.decode("ascii", "replace"), bytes(line))
        t.skipSpace()
        if upper == b"CAPABILITY":
            return Capability(frozenset(w.decode("ascii", "replace").upper()
                                        for w in t.rest().split()))
        if upper == b"VANISHED":
            return _vanished(t)
        if upper == b"ENABLED":
            return Enabled(frozenset(w.decode("ascii", "replace").upper()
                                     for w in t.rest().split()))
        if upper == b"SEARCH":
            return Search(tuple(int(w) for w in t.rest().split() if w.isdigit()))
        if upper == b"FLAGS":
            return Flags(tuple(_flag(f) for f in t.value() or ()))
        if upper in (b"LIST", b"LSUB"):
            flags = t.value()
            delim = t.value()
            name = t.value()
            return ListItem(tuple(_text(f) for f in flags or ()),
                            None if delim is None else _text(delim), _text(name))
        if upper == b"STATUS":
            mailbox = _text(t.value())
            values = t.value() or []
            return StatusItem(mailbox, {_text(values[i]).upper(): values[i + 1]
                                        for i in range(0, len(values) - 1, 2)})
        return Other(upper.decode("ascii", "replace"), bytes(line))
    tag = t.atom()
    t.skipSpace()
    status = t.atom().upper().decode("ascii", "replace")
    if status not in ("OK", "NO", "BAD"):
        raise ResponseParseError(f"bad tagged status {status!r}")
    code = _code(t)
    t.skipSpace()
    return Tagged(tag.decode("ascii", "replace"), status, code, _text(t.rest()))
