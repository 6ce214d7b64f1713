"""
Mailbox names on the wire (modified UTF-7, RFC 3501 5.1.3) and message-set resolution.
"""

from __future__ import annotations

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec

from idlemail.server.registry import CommandFailed
from idlemail.wire.encode import string


def decodeName(raw: bytes, delimiter: str = "/") -> str:
    """
    A mailbox name as the backend sees it; INBOX in any case is C{"INBOX"} (5.1).
    """
    try:
        name = raw.decode("imap4-utf-7")
    except (UnicodeDecodeError, ValueError):
        raise CommandFailed("Mailbox name is not valid modified UTF-7", "BAD")
    if not name:
        raise CommandFailed("Mailbox name is empty", "NO", "CANNOT")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise CommandFailed("Mailbox name contains control characters", "NO", "CANNOT")
    head, sep, rest = name.partition(delimiter)
    if head.upper() == "INBOX":
        name = "INBOX" + sep + rest
    return name


def encodeName(name: str) -> bytes:
    return string(name.encode("imap4-utf-7"))


def resolveUids(session, seqset, uid: bool) -> list[int]:
    """
    The UIDs, ascending, that C{seqset} names in the session's view. A message
    number past the end is an error (RFC 3501 6.4.8: UID sets may name UIDs that
    don't exist, sequence sets may not).
    """
    view = session.view
    inView = view.uidsInView()
    if uid:
        largest = inView[-1] if inView else 0
        wanted = [u for u in inView if seqset.contains(u, largest)]
        return wanted
    exists = len(inView)
    picked: set[int] = set()
    for lo, hi in seqset.resolve(exists):
        if hi > exists or lo < 1:
            raise CommandFailed("Invalid message sequence number", "BAD")
        picked.update(range(lo, hi + 1))
    return [inView[i - 1] for i in sorted(picked)]
