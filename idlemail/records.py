"""
Plain values that cross the backend interfaces (see L{idlemail.interfaces}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

#: The system flags of RFC 3501 section 2.3.2 that a backend stores (\\Recent is the
#: protocol layer's business, never stored).
SYSTEM_FLAGS = (r"\Answered", r"\Flagged", r"\Deleted", r"\Seen", r"\Draft")
RECENT = r"\Recent"

# Flags are case-insensitive (RFC 3501 2.3.2, 9): one spelling each, the RFC's.
_SYSTEM_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS + (RECENT,)}
# RFC 3501 9: a keyword is an atom; ATOM-CHAR is a CHAR (7-bit) but no atom-special.
_ATOM = re.compile(r'[^(){ %*"\\\]\x00-\x20\x7f-\U0010ffff]+')


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """
    What a mailbox knows of one message without reading its body.
    """

    uid: int
    flags: frozenset[str]
    internaldate: datetime  # timezone-aware
    size: int  # RFC822.SIZE: octets of the message as stored, with CRLF line ends


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """
    One entry of a LIST: the mailbox's name and its attributes (e.g. C{\\Noselect},
    C{\\HasChildren}, C{\\Sent}).
    """

    name: str
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """
    The figures a STATUS command reports (RFC 3501 section 6.3.10).
    """

    messages: int
    recent: int
    uidnext: int
    uidvalidity: int
    unseen: int
    highestmodseq: int = 0  # RFC 7162 HIGHESTMODSEQ; 0 from a backend that keeps none


def applyFlags(old: frozenset[str], flags, mode: str) -> frozenset[str]:
    """STORE's arithmetic: C{"+"} adds, C{"-"} removes, C{""} replaces."""
    if mode == "+":
        return old | frozenset(flags)
    if mode == "-":
        return old - frozenset(flags)
    return frozenset(flags)


def systemFlag(flag: str) -> str | None:
    """The RFC spelling of a system flag (C{"\\\\seen"} -> C{"\\\\Seen"}), or None."""
    return _SYSTEM_BY_LOWER.get(flag.lower())


def isKeyword(flag: str) -> bool:
    """True for a valid keyword: an atom of 7-bit characters (RFC 3501 9)."""
    return _ATOM.fullmatch(flag) is not None


class KeywordSpellings:
    """
    The keywords of one mailbox, one spelling each: the first one seen. A keyword
    differing only in case is the same keyword (RFC 3501 2.3.2).
    """

    __slots__ = ("_byLower",)

    def __init__(self, keywords=()):
        self._byLower: dict[str, str] = {}
        for keyword in keywords:
            self._byLower.setdefault(keyword.lower(), keyword)

    def __iter__(self):
        return iter(self._byLower.values())

    def __len__(self) -> int:
        return len(self._byLower)

    def spelling(self, keyword: str) -> str | None:
        """The mailbox's spelling of C{keyword}, or None if the mailbox has not got it."""
        return self._byLower.get(keyword.lower())

    def canonical(self, flags, register: bool = True) -> tuple[frozenset[str], list[str]]:
        """
        C{flags} with system flags in their RFC spelling and keywords in this mailbox's,
        without \\Recent (the server's to set) or unknown system flags; and the
        keywords new to the mailbox, which are added to it unless C{register} is False
        (flags being removed make no new keyword).
        """
        out, new = set(), []
        for flag in flags:
            if flag.startswith("\\"):
                system = _SYSTEM_BY_LOWER.get(flag.lower())
                if system is not None and system != RECENT:
                    out.add(system)
                continue
            known = self._byLower.get(flag.lower())
            if known is None:
                if not isKeyword(flag):
                    continue
                known = flag
                if register:
                    self._byLower[flag.lower()] = flag
                    new.append(flag)
            out.add(known)
        return frozenset(out), new
