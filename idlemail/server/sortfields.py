"""
What SORT and THREAD know of a message (RFC 5256, RFC 5957): its sent date, base subject,
the first From/To/Cc addresses, Message-ID, References and In-Reply-To, read from its header
once and kept in the process's structure cache (L{idlemail.server.structures}) beside its
ENVELOPE, so that sorting the same mailbox again costs no read and no parse.

Headers are read in slices (L{idlemail.server.slices}): only the header if the backend
can cut it out (L{IPartialBodies}), else the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

from idlemail.interfaces import IPartialBodies
from idlemail.server.slices import Slices
from idlemail.wire.addresses import Group
from idlemail.wire.message import MessageStructure, Section, decodeWords
from idlemail.wire.subject import baseSubject, casemapped

_HEADER = Section(text="HEADER")
_CACHE_NAME = "SORTFIELDS"
# RFC 5256 3 (REFERENCES 1): a msg-id is "<" id-left "@" id-right ">"; we take what is
# between angle brackets and has an "@", as real mail's ids are not always strict.
_MESSAGE_ID = re.compile(r"<([^<>\s@]+@[^<>\s]+)>")


@dataclass(frozen=True, slots=True)
class SortFields:
    sent: float | None  # the Date field as a POSIX time, None if absent or unreadable
    subject: bytes  # the base subject, casemapped
    subjectIsReply: bool
    fromKey: bytes
    toKey: bytes
    ccKey: bytes
    displayFrom: bytes
    displayTo: bytes
    messageId: str | None
    references: tuple[str, ...]  # References, or else the first id of In-Reply-To

    @property
    def octets(self) -> int:  # for the structure cache's bound
        return 200 + len(self.subject) + sum(len(r) for r in self.references) + len(
            self.messageId or "") + len(self.fromKey) + len(self.toKey) + len(self.ccKey) + len(
            self.displayFrom) + len(self.displayTo)


def _firstKeys(structure, name: str) -> tuple[str, str] | None:
    """The (addr-mailbox, display) of the first address of header C{name}, as its ENVELOPE
    lists it: a group comes first as its start marker, whose mailbox is the group's name
    (RFC 3501 7.4.2), and so sorts by that name, as Dovecot and imaptest have it."""
    for item in structure.addresses(name):
        if isinstance(item, Group):
            return item.name, item.name
        display = decodeWords(item.name).strip() if item.name else ""
        if not display:
            display = item.local if item.domain is None else f"{item.local}@{item.domain}"
        return item.local, display
    return None


def _mailboxKey(structure, name: str) -> bytes:
    """RFC 5256 3 (SORT FROM, TO, CC): the addr-mailbox (local part) of the first address."""
    first = _firstKeys(structure, name)
    return casemapped(first[0]) if first is not None else b""


def _displayKey(structure, name: str) -> bytes:
    """RFC 5957 3: the first address's display name, decoded; if it has none, its addr-spec."""
    first = _firstKeys(structure, name)
    return casemapped(first[1]) if first is not None else b""


def _sent(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": a time of unknown zone, taken as UTC
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.timestamp()
    except (OverflowError, ValueError):
        return None


def _ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value) if value else []


def parseFields(header: bytes) -> SortFields:
    s = MessageStructure.parse(header)
    base, isReply = baseSubject(s.rawHeader("subject"))
    ids = _ids(s.rawHeader("message-id"))
    # RFC 5256 3 (REFERENCES 1.A): References if it has a valid id, else the first valid
    # id of In-Reply-To.
    references = _ids(" ".join(s.rawHeaders("references"))) or _ids(
        s.rawHeader("in-reply-to"))[:1]
    return SortFields(_sent(s.rawHeader("date")), casemapped(base), isReply,
                      _mailboxKey(s, "from"), _mailboxKey(s, "to"), _mailboxKey(s, "cc"),
                      _displayKey(s, "from"), _displayKey(s, "to"),
                      ids[0] if ids else None, tuple(references))


async def sortFields(session, uids) -> dict[int, SortFields]:
    """The fields of each of C{uids} that still exists, read (or found in the cache) in
    slices."""
    mailbox = session.mailbox
    cache = session.factory.structures
    tracker, validity = mailbox.tracker, mailbox.uidValidity
    headerOnly = IPartialBodies.providedBy(mailbox)
    slices = Slices(session)
    out: dict[int, SortFields] = {}
    for uid in uids:
        key = (validity, uid)
        cached = cache.get(tracker, key)
        fields = cached.get(_CACHE_NAME) if cached else None
        if fields is None:
            if slices.due():
                await slices.pause()
            raw = await (mailbox.bodyPart(uid, _HEADER, None) if headerOnly
                         else mailbox.body(uid))
            if raw is None:
                continue  # expunged meanwhile
            fields = parseFields(raw)
            cache.put(tracker, key, _CACHE_NAME, fields)
        out[uid] = fields
    return out
