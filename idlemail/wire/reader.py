"""
Reading the parts of a client command (RFC 3501 section 9 grammar): atoms, strings,
literals, numbers, sequence sets, flags, dates. The per-command grammars are built from
these (L{idlemail.wire.command} and the grammar modules beside it).

Input is one whole command as the framer collected it: the command line without its
final CRLF, with each literal inline as C{{n}\\r\\n} or C{{n+}\\r\\n} (C{~{n}} for a
literal8, RFC 3516) followed by its n octets. Nothing here knows sockets or Twisted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from idlemail.records import systemFlag


#: RFC 7162 7: a mod-sequence-value is a positive 63-bit number.
MAX_MODSEQ = 2 ** 63 - 1

class ParseError(Exception):
    """
    The command is malformed. C{tag} is what could be read of it (or C{"*"}).
    """

    def __init__(self, message: str, tag: str = "*"):
        super().__init__(message)
        self.tag = tag


# RFC 3501 section 9: ATOM-CHAR is any CHAR except atom-specials.
ATOM_SPECIALS = set(b'(){ %*"\\]') | set(range(0x00, 0x20)) | {0x7F}
TAG_SPECIALS = ATOM_SPECIALS | {ord("+")}
LIST_SPECIALS = ATOM_SPECIALS - set(b"%*]")  # list-mailbox allows % * ]
_LITERAL = re.compile(rb"(~?)\{(\d{1,10})(\+?)\}\r\n")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """
    Ranges of sequence numbers or UIDs; C{None} stands for C{*} (the largest in use).
    """

    ranges: tuple[tuple[int | None, int | None], ...]
    #: C{$}: the result SEARCH saved last (RFC 5182); then C{ranges} is empty, and the
    #: session resolves it (L{idlemail.server.sequences.resolveUids}).
    saved: bool = False

    def resolve(self, largest: int):
        """Yield (lo, hi) pairs with C{*} replaced by C{largest}, lo <= hi."""
        for lo, hi in self.ranges:
            lo = largest if lo is None else lo
            hi = largest if hi is None else hi
            yield (lo, hi) if lo <= hi else (hi, lo)

    def contains(self, number: int, largest: int) -> bool:
        return any(lo <= number <= hi for lo, hi in self.resolve(largest))


class Reader:
    def __init__(self, data: bytes, tag: str = "*"):
        self.data = data
        self.pos = 0
        self.tag = tag

    def fail(self, what: str):
        raise ParseError(what, self.tag)

    def atEnd(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def expect(self, literal: bytes, what: str | None = None) -> None:
        if not self.data.startswith(literal, self.pos):
            self.fail(f"Expected {what or literal.decode()!s}")
        self.pos += len(literal)

    def sp(self) -> None:
        self.expect(b" ", "a space")

    def maybe(self, literal: bytes) -> bool:
        if self.data[self.pos:self.pos + len(literal)].upper() == literal.upper():
            self.pos += len(literal)
            return True
        return False

    def end(self) -> None:
        if not self.atEnd():
            self.fail("Unexpected extra arguments")

    def _run(self, specials) -> bytes:
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] not in specials:
            self.pos += 1
        return data[start:self.pos]

    def atom(self, specials=ATOM_SPECIALS, what="an atom") -> str:
        word = self._run(specials)
        if not word:
            self.fail(f"Expected {what}")
        return word.decode("ascii", "replace")

    def number(self, what="a number", largest: int = 0xFFFFFFFF) -> int:
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        if start == self.pos or self.pos - start > len(str(largest)):
            self.fail(f"Expected {what}")
        value = int(self.data[start:self.pos])
        if value > largest:
            self.fail(f"{what.capitalize()} out of range")
        return value

    def modseq(self, what="a mod-sequence") -> int:
        """A mod-sequence-value (RFC 7162 7): up to 63 bits, 0 allowed (valzer)."""
        return self.number(what, MAX_MODSEQ)

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                self.fail("Unterminated quoted string")
            c = data[self.pos]
            self.pos += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self.pos >= len(data) or data[self.pos] not in b'"\\':
                    self.fail("Bad escape in quoted string")
                c = data[self.pos]
                self.pos += 1
            elif c in (0x0D, 0x0A, 0x00):
                self.fail("Bad character in quoted string")
            out.append(c)

    def literal(self, binary: bool = False) -> bytes:
        """A literal; with C{binary}, a literal8 (C{~{n}}, RFC 3516 4.1) is taken too."""
        m = _LITERAL.match(self.data, self.pos)
        if not m or (m.group(1) and not binary):
            self.fail("Expected a literal")
        start = m.end()
        size = int(m.group(2))
        if start + size > len(self.data):
            self.fail("Literal shorter than announced")
        self.pos = start + size
        return self.data[start:start + size]

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()
        self.fail("Expected a string")

    def astring(self, what="a string") -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        word = self._run(ATOM_SPECIALS - {ord("]")})
        if not word:
            self.fail(f"Expected {what}")
        return word

    def listMailbox(self) -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        word = self._run(LIST_SPECIALS)
        if not word:
            self.fail("Expected a mailbox pattern")
        return word

    def sequenceSet(self) -> SequenceSet:
        if self.maybe(b"$"):  # RFC 5182: the saved search result, always alone
            return SequenceSet((), saved=True)
        ranges = []
        while True:
            lo = self._seqNumber()
            hi = lo
            if self.maybe(b":"):
                hi = self._seqNumber()
            ranges.append((lo, hi))
            if not self.maybe(b","):
                return SequenceSet(tuple(ranges))

    def _seqNumber(self) -> int | None:
        if self.maybe(b"*"):
            return None
        n = self.number("a sequence number")
        if n == 0:
            self.fail("Sequence numbers start at 1")
        return n

    def atomList(self, known, what: str) -> list[str]:
        """C{(WORD WORD ...)}: upper-case, each one of C{known} (else a parse error, which
        the extensions' RFCs make a BAD), a repeated one once."""
        self.expect(b"(", f"a list of {what}s")
        words: list[str] = []
        first = True
        while not self.maybe(b")"):
            if not first:
                self.sp()
            first = False
            word = self.atom(what=f"a {what}").upper()
            if word not in known:
                self.fail(f"Unknown {what} {word}")
            if word not in words:
                words.append(word)
        return words

    def flagList(self) -> list[str]:
        self.expect(b"(", "a flag list")
        flags = []
        while not self.maybe(b")"):
            if flags:
                self.sp()
            flags.append(self.flag())
        return flags

    def flag(self) -> str:
        """
        A flag, one spelling each (RFC 3501 2.3.2: flags are case-insensitive): a system
        flag as the RFC spells it; an unknown C{\\Word} is refused rather than dropped.
        """
        if self.maybe(b"\\"):
            name = "\\" + self.asciiAtom("a flag name")
            flag = systemFlag(name)
            if flag is None:
                self.fail(f"Unknown system flag {name}")
            return flag
        return self.asciiAtom("a flag")

    def asciiAtom(self, what: str) -> str:
        """An atom of 7-bit characters (RFC 3501 9: ATOM-CHAR is a CHAR)."""
        word = self._run(ATOM_SPECIALS)
        if not word:
            self.fail(f"Expected {what}")
        if max(word) >= 0x80:
            self.fail(f"{what.capitalize()} must be 7-bit ASCII")
        return word.decode("ascii")

    def dateTime(self) -> datetime:
        raw = self.quoted().decode("ascii", "replace")
        m = re.fullmatch(r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", raw)
        if not m:
            self.fail("Bad date-time")
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        try:
            month = [x.lower() for x in _MONTHS].index(mon.lower()) + 1
            offset = timedelta(hours=int(zh), minutes=int(zm)) * (1 if sign == "+" else -1)
            return datetime(int(year), month, int(day), int(hh), int(mm), int(ss),
                            tzinfo=timezone(offset))
        except ValueError:
            self.fail("Bad date-time")

    def date(self) -> datetime:
        quoted = self.peek() == 0x22
        raw = self.quoted() if quoted else self._run(ATOM_SPECIALS)
        m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", raw)
        if not m:
            self.fail("Bad date")
        try:
            month = [x.lower() for x in _MONTHS].index(m.group(2).decode().lower()) + 1
            return datetime(int(m.group(3)), month, int(m.group(1)), tzinfo=timezone.utc)
        except ValueError:
            self.fail("Bad date")


