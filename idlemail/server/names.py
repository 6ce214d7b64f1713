"""
Mailbox names on the wire (modified UTF-7, RFC 3501 5.1.3).
"""

from __future__ import annotations

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec

from idlemail.errors import IMAPError
from idlemail.wire.encode import string

#: Limits on a mailbox name, as sent: longer or deeper names are refused with
#: NO [LIMIT] (every backend can hold these; Maildir++ folders are one directory entry).
MAX_NAME_OCTETS = 255
MAX_LEVELS = 32


def decodeName(raw: bytes, delimiter: str = "/") -> str:
    """
    A mailbox name as the backend sees it; INBOX in any case is C{"INBOX"} (5.1).
    A name that is not valid modified UTF-7, or not in its one canonical spelling
    (C{&AGEAYgBj-} for C{abc}), is refused: two spellings must not name two mailboxes.
    """
    if len(raw) > MAX_NAME_OCTETS:
        raise IMAPError(f"Mailbox name too long (at most {MAX_NAME_OCTETS} octets)", "LIMIT")
    if raw.count(delimiter.encode()) >= MAX_LEVELS:
        raise IMAPError(f"Mailbox name too deep (at most {MAX_LEVELS} levels)", "LIMIT")
    try:
        name = raw.decode("imap4-utf-7")
        canonical = name.encode("imap4-utf-7") == raw
    except (UnicodeError, ValueError):
        canonical = False
    if not canonical:
        raise IMAPError("Mailbox name is not valid modified UTF-7", "CANNOT")
    if not name:
        raise IMAPError("Mailbox name is empty", "CANNOT")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise IMAPError("Mailbox name contains control characters", "CANNOT")
    head, sep, rest = name.partition(delimiter)
    if head.upper() == "INBOX":
        name = "INBOX" + sep + rest
    return name


def wireName(name: str) -> bytes:
    """The modified UTF-7 form of a mailbox name."""
    return name.encode("imap4-utf-7")


def encodeName(name: str) -> bytes:
    """A mailbox name as a response item (a quoted string or a literal)."""
    return string(wireName(name))
