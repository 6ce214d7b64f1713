"""
The responses that tell a session about flags, built in one place: the FLAGS data item
of a FETCH, the C{FETCH (FLAGS ...)} line of a STORE or a push, and the FLAGS and
PERMANENTFLAGS pair of SELECT and of a new keyword (RFC 3501 7.1, 7.2.6, 7.4.2).
"""

from __future__ import annotations

from functools import lru_cache

from idlemail.records import RECENT, SYSTEM_FLAGS
from idlemail.wire.encode import flagList

_PERMANENT_ANY = "\\*"


def flagsItem(flags, recent: bool) -> bytes:
    """C{FLAGS (...)}, with \\\\Recent if the message is recent in this session."""
    return _flagsItem(flags if type(flags) is frozenset else frozenset(flags), recent)


@lru_cache(maxsize=4096)
def _flagsItem(flags: frozenset, recent: bool) -> bytes:
    # A mailbox has few distinct flag sets: each is rendered once (a resync of 20,000
    # messages renders a handful).
    return b"FLAGS " + flagList(flags | {RECENT} if recent else flags)


def fetchFlags(seq: int, flags, recent: bool, uid: int | None = None,
               modseq: int | None = None) -> bytes:
    """C{n FETCH (FLAGS (...) UID u MODSEQ (m))}, the UID and the MODSEQ (RFC 7162 3.1.4)
    only if given (without C{* })."""
    if uid is None:
        return b"%d FETCH (%s)" % (seq, flagsItem(flags, recent))
    if modseq is None:
        return b"%d FETCH (%s UID %d)" % (seq, flagsItem(flags, recent), uid)
    return b"%d FETCH (%s UID %d MODSEQ (%d))" % (seq, flagsItem(flags, recent), uid, modseq)


def mailboxFlags(keywords, permanentFlags, readonly: bool) -> list[bytes]:
    """
    The FLAGS and OK [PERMANENTFLAGS] lines (without C{* }) for a mailbox with these
    keywords; C{permanentFlags} is the backend's (system flags, and C{\\\\*} if new
    keywords may be made). A read-only session may change nothing.
    """
    keywords = tuple(keywords)
    permanent: tuple[str, ...] = ()
    if not readonly:
        permanent = tuple(f for f in permanentFlags if f != _PERMANENT_ANY) + keywords
        if _PERMANENT_ANY in permanentFlags:
            permanent += (_PERMANENT_ANY,)
    return [b"FLAGS " + flagList(SYSTEM_FLAGS + keywords),
            b"OK [PERMANENTFLAGS " + flagList(permanent) + b"] Flags permitted"]
