"""
SEARCH criteria (the typed tree of L{idlemail.wire.command.SearchKey}) as the arguments of
an upstream C{UID SEARCH}: the upstream evaluates them; nothing is downloaded to search.

The server has already resolved what depends on a local session (message numbers, C{*},
\\Recent) to UID sets; a key left unresolved is refused rather than guessed.
"""

from __future__ import annotations

from idlemail.client.protocol import LiteralArgument
from idlemail.errors import IMAPError
from idlemail.wire.command import SearchKey
from idlemail.wire.encode import date

_SYSTEM = {"\\seen": b"SEEN", "\\answered": b"ANSWERED", "\\deleted": b"DELETED",
           "\\draft": b"DRAFT", "\\flagged": b"FLAGGED"}
_ENVELOPE_KEYS = {"FROM", "TO", "CC", "BCC", "SUBJECT"}
_PRINTABLE = frozenset(range(0x20, 0x7F))


def searchArguments(criteria: SearchKey) -> list:
    """The arguments after C{UID SEARCH}: C{CHARSET UTF-8} first if a string needs it."""
    out = _Writer()
    tokens = out.spread(criteria)
    return ([b"CHARSET", b"UTF-8"] if out.utf8 else []) + tokens


class _Writer:
    def __init__(self):
        self.utf8 = False

    def spread(self, key: SearchKey) -> list:
        """A key's tokens; a top-level AND is a plain sequence (RFC 3501 6.4.4)."""
        if key.op == "AND":
            return [t for k in key.args for t in self.tokens(k)]
        return self.tokens(key)

    def tokens(self, key: SearchKey) -> list:
        """One search-key: prefix notation is self-delimiting; only AND needs a list."""
        op, args = key.op, key.args
        if op == "ALL":
            return [b"ALL"]
        if op == "AND":
            return [tuple(self.spread(key))]
        if op == "OR":
            return [b"OR", *self.tokens(args[0]), *self.tokens(args[1])]
        if op == "NOT":
            return [b"NOT", *self.tokens(args[0])]
        if op == "UID":
            ranges = [(lo, hi) for lo, hi in args[0].ranges]
            if not ranges:
                return [b"NOT", b"ALL"]  # an empty set: nothing matches
            if any(lo is None or hi is None for lo, hi in ranges):
                raise IMAPError("Unresolved * in a UID set", "SERVERBUG")
            return [b"UID", b",".join(b"%d" % lo if lo == hi else b"%d:%d" % (lo, hi)
                                      for lo, hi in ranges)]
        if op == "FLAG":
            flag, wanted = args
            system = _SYSTEM.get(flag.lower())
            if system is not None:
                return [system if wanted else b"UN" + system]
            return [b"KEYWORD" if wanted else b"UNKEYWORD", flag.encode("ascii")]
        if op in ("LARGER", "SMALLER"):
            return [op.encode(), b"%d" % args[0]]
        if op in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
            return [op.encode(), date(args[0])]
        if op == "HEADER":
            name, text = args
            if name.upper() in _ENVELOPE_KEYS:  # FROM etc. search the envelope (RFC 3501 6.4.4)
                return [name.upper().encode(), self.string(text)]
            return [b"HEADER", self.string(name), self.string(text)]
        if op in ("BODY", "TEXT"):
            return [op.encode(), self.string(args[0])]
        raise IMAPError(f"Search key {op} cannot be sent upstream", "CANNOT")

    def string(self, text: str):
        data = text.encode("utf-8")
        if len(data) < 1024 and all(b in _PRINTABLE for b in data):
            return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        if any(b >= 0x80 for b in data):
            self.utf8 = True
        return LiteralArgument(data)

