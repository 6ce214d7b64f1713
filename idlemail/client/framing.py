"""
Bytes from a server -> whole responses (a line, its literals, the rest of the line), with
bounds on everything a server controls.

One buffer and one loop, rather than LineReceiver's switch between line and raw mode,
which re-feeds what is left of the chunk after every literal: a chunk of a thousand small
literals then costs a thousand copies of itself and as many nested calls.
"""

from __future__ import annotations

import re

MAX_LINE = 16 * 1024 * 1024  # the text of one response, literals apart
MAX_LITERALS = 10_000  # literals in one response (a FETCH of ENVELOPEs needs a few dozen)
_LITERAL = re.compile(rb"~?\{(\d{1,20})\}$")  # ~{n}: RFC 3516 literal8


class ResponseTooLarge(Exception):
    """The server went over a bound; the connection was dropped. C{str()} says which."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} octets"


class ResponseFramer:
    """
    Feed it bytes; it calls C{deliver(line, literals)} once per whole response, where
    C{line} has each literal's C{{n}} marker in place. C{feed} returns None, or a line
    saying which bound the server broke (the caller then drops the connection).
    """

    def __init__(self, deliver, maxLiteralSize: int, maxLine: int = MAX_LINE,
                 maxLiterals: int = MAX_LITERALS):
        self.deliver = deliver
        self.maxLiteralSize, self.maxLine, self.maxLiterals = maxLiteralSize, maxLine, maxLiterals
        self._buffer = bytearray()
        self._scanFrom = 0  # where to resume looking for CRLF in a line still arriving
        self._parts: list[bytes] = []
        self._lineOctets = 0
        self._literals: list[bytes] = []
        self._literalOctets = 0
        self._literalLeft = 0
        self._literal = bytearray()
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True
        self._buffer = bytearray()

    def discardBuffered(self) -> None:
        """Forget what has been read but not yet parsed (for STARTTLS)."""
        self._buffer = bytearray()
        self._scanFrom = 0

    def feed(self, data: bytes) -> str | None:
        if self._stopped:
            return None
        self._buffer += data
        buf, pos = self._buffer, 0
        while not self._stopped and pos < len(self._buffer):
            if self._literalLeft:
                take = min(self._literalLeft, len(buf) - pos)
                with memoryview(buf) as view:
                    self._literal += view[pos:pos + take]
                pos += take
                self._literalLeft -= take
                if self._literalLeft == 0:
                    self._literals.append(bytes(self._literal))
                    self._literal = bytearray()
                continue
            end = buf.find(b"\r\n", max(pos, self._scanFrom))
            if end < 0:
                if len(buf) - pos + self._lineOctets > self.maxLine:
                    return f"server sent a line over {_megabytes(self.maxLine)}"
                self._scanFrom = max(pos, len(buf) - 1)
                break
            line = bytes(buf[pos:end])
            pos, self._scanFrom = end + 2, 0
            problem = self._line(line)
            if problem is not None:
                return problem
        if self._buffer is buf and pos:
            del self._buffer[:pos]
            self._scanFrom = max(0, self._scanFrom - pos)
        return None

    def _line(self, line: bytes) -> str | None:
        self._lineOctets += len(line)
        if self._lineOctets > self.maxLine:
            return f"server sent a response over {_megabytes(self.maxLine)}"
        self._parts.append(line)
        m = _LITERAL.search(line)
        if m is None:
            whole = b"".join(self._parts)
            literals = self._literals
            self._parts, self._literals, self._lineOctets, self._literalOctets = [], [], 0, 0
            self.deliver(whole, literals)
            return None
        size = int(m.group(1))
        self._literalOctets += size
        if self._literalOctets > self.maxLiteralSize:
            return (f"server sent a literal of {size} octets, over the limit of "
                    f"{_megabytes(self.maxLiteralSize)} (max_literal_size)")
        if len(self._literals) >= self.maxLiterals:
            return f"server sent a response with over {self.maxLiterals} literals"
        if size == 0:
            self._literals.append(b"")
        else:
            self._literalLeft = size
        return None
