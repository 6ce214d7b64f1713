"""
Plain values that cross the backend interfaces (see L{idlemail.interfaces}).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The system flags of RFC 3501 section 2.3.2 that a backend stores (\\Recent is the
#: protocol layer's business, never stored).
SYSTEM_FLAGS = (r"\Answered", r"\Flagged", r"\Deleted", r"\Seen", r"\Draft")


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


def applyFlags(old: frozenset[str], flags, mode: str) -> frozenset[str]:
    """STORE's arithmetic: C{"+"} adds, C{"-"} removes, C{""} replaces."""
    if mode == "+":
        return old | frozenset(flags)
    if mode == "-":
        return old - frozenset(flags)
    return frozenset(flags)
