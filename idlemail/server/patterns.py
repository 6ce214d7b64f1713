"""
LIST and LSUB patterns (RFC 3501 6.3.8): C{*} matches anything, C{%} anything but the
hierarchy delimiter. Matching is linear in the name whatever the pattern: the pattern
is run as a set of states kept in one integer (a bit per position), never by
backtracking, so C{LIST "" "*****...*a"} costs what C{LIST "" "*a"} costs.

Patterns are matched against names as sent on the wire (modified UTF-7), so a pattern
that is not valid modified UTF-7 simply matches what it spells.
"""

from __future__ import annotations

_STAR, _PERCENT = ord("*"), ord("%")


class Pattern:
    """One compiled pattern; C{matches(name)} for a name in its wire form (bytes)."""

    __slots__ = ("_literal", "_stars", "_percents", "_accept", "_delimiter")

    def __init__(self, pattern: bytes, delimiter: bytes):
        tokens: list[int] = []
        for c in pattern:
            if c in (_STAR, _PERCENT) and tokens and tokens[-1] in (_STAR, _PERCENT):
                # A run of wildcards is one: "*" if it holds a "*", else "%".
                if c == _STAR:
                    tokens[-1] = _STAR
                continue
            tokens.append(c)
        self._literal: dict[int, int] = {}  # octet -> positions expecting it
        self._stars = self._percents = 0
        for i, c in enumerate(tokens):
            if c == _STAR:
                self._stars |= 1 << i
            elif c == _PERCENT:
                self._percents |= 1 << i
            else:
                self._literal[c] = self._literal.get(c, 0) | 1 << i
        self._accept = 1 << len(tokens)
        self._delimiter = delimiter[0] if delimiter else -1

    def _close(self, states: int) -> int:
        # A wildcard may match nothing: its position also stands for the next one.
        # Runs were merged, so one step reaches every position.
        return states | (states & (self._stars | self._percents)) << 1

    def matches(self, name: bytes) -> bool:
        states = self._close(1)
        literal, stars, percents = self._literal, self._stars, self._percents
        delimiter = self._delimiter
        for c in name:
            kept = states & stars if c == delimiter else states & (stars | percents)
            states = self._close(((states & literal.get(c, 0)) << 1) | kept)
            if not states:
                return False
        return bool(states & self._accept)


def patternMatcher(reference: bytes, pattern: bytes, delimiter: str):
    """
    A predicate on wire-form names for C{reference} + C{pattern}. INBOX is matched
    in any case (RFC 3501 5.1), its children's lower levels as spelled.
    """
    whole = reference + pattern
    sep = delimiter.encode()
    exact = Pattern(whole, sep)
    inbox = Pattern(b"INBOX" + whole[5:], sep) if whole[:5].upper() == b"INBOX" else None

    def matches(name: bytes) -> bool:
        if exact.matches(name):
            return True
        return inbox is not None and (name == b"INBOX" or name.startswith(b"INBOX" + sep)) \
            and inbox.matches(name)
    return matches
