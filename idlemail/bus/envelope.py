"""
What travels on the change bus: an L{Envelope} (whose mailbox changed, in which process,
the how-manyeth change of that mailbox from that process) around a change from
L{idlemail.events}, and its compact JSON form for a bus between processes.

Wire form (one JSON object, UTF-8, keys kept short because every change of every mailbox
is sent once per process that serves it)::

  {"v": 1, "o": "mx1:4242:9f2c61d0", "s": 17, "u": "alice", "m": "INBOX",
   "uv": 1700000000, "c": "a", "d": "41:43,45"}

C{c} is the kind of change and C{d} its data: C{"a"} messages added and C{"x"} expunged
(C{d}: an RFC 4315 uid-set, C{"41:43,45"}), C{"f"} flags changed (C{d}: a list of
C{[flags, uid-set]} pairs, one per distinct flag set), C{"k"} keywords added (C{d}: a list),
C{"r"} "something changed, re-read the mailbox" (no C{d}; also what an envelope of a kind
this version does not know decodes to). C{uv} is 0 when the publisher does not know the
UIDVALIDITY (an MDA hook).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field

from idlemail.events import (
    FlagsChanged,
    KeywordsAdded,
    MailboxEvent,
    MessagesAdded,
    MessagesExpunged,
)

VERSION = 1


def newOrigin() -> str:
    """An id for this process, unique across hosts and restarts: host, pid, 32 random bits."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """
    One change of one mailbox, as published on the bus.

    @ivar user: the account's login name.
    @ivar mailbox: the backend's name of the mailbox (C{"INBOX"}, C{"Lists/python"}).
    @ivar uidValidity: the mailbox's UIDVALIDITY when the change was made; 0 if unknown.
        A receiver that knew another one re-reads the mailbox (it was recreated).
    @ivar origin: the publishing process's L{newOrigin}.
    @ivar seq: 1, 2, 3, ... per (user, mailbox) within the origin, as L{EnvelopeStamper}
        numbers them; a receiver that sees n+2 after n knows it missed one.
    @ivar change: the L{idlemail.events} event, or None for "re-read the mailbox".
    @ivar session: the session that made the change, in this process only (so that its
        own FLAGS are not echoed to it); never sent to another process.
    """

    user: str
    mailbox: str
    uidValidity: int
    origin: str
    seq: int
    change: MailboxEvent | None
    session: object = field(default=None, compare=False, repr=False)


class EnvelopeStamper:
    """
    Numbers one process's changes per (user, mailbox). A backend keeps one (per process,
    with the bus's origin) and wraps every change it publishes with L{stamp}.
    """

    __slots__ = ("origin", "_seqs")

    def __init__(self, origin: str):
        self.origin = origin
        self._seqs: dict[str, dict[str, int]] = {}

    def stamp(self, user: str, mailbox: str, uidValidity: int, change: MailboxEvent | None,
              session: object = None) -> Envelope:
        mailboxes = self._seqs.get(user)
        if mailboxes is None:
            mailboxes = self._seqs[user] = {}
        seq = mailboxes.get(mailbox, 0) + 1
        mailboxes[mailbox] = seq
        return Envelope(user, mailbox, uidValidity, self.origin, seq, change, session)


# --- the wire form --------------------------------------------------------------------

class BadEnvelope(ValueError):
    """Bytes from the bus that are not an envelope; C{str()} says why, in one line."""


def encodeEnvelope(envelope: Envelope) -> bytes:
    record = {"v": VERSION, "o": envelope.origin, "s": envelope.seq, "u": envelope.user,
              "m": envelope.mailbox, "uv": envelope.uidValidity}
    change = envelope.change
    if change is None:
        record["c"] = "r"
    elif isinstance(change, MessagesAdded):
        record["c"], record["d"] = "a", uidSet(change.uids)
    elif isinstance(change, MessagesExpunged):
        record["c"], record["d"] = "x", uidSet(sorted(change.uids))
    elif isinstance(change, FlagsChanged):
        record["c"], record["d"] = "f", _flagGroups(change.flags)
    elif isinstance(change, KeywordsAdded):
        record["c"], record["d"] = "k", list(change.keywords)
    else:
        raise TypeError(f"not a mailbox event: {change!r}")
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def decodeEnvelope(data: bytes | str) -> Envelope:
    """The envelope C{data} holds; L{BadEnvelope} if it holds none."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeError) as e:
        raise BadEnvelope(f"not JSON: {e}") from None
    if not isinstance(record, dict):
        raise BadEnvelope("not a JSON object")
    if record.get("v") != VERSION:
        raise BadEnvelope(f"unknown version {record.get('v')!r}")
    origin, user, mailbox = (_field(record, k, str) for k in ("o", "u", "m"))
    seq, uidValidity = _field(record, "s", int), _field(record, "uv", int)
    try:
        change = _decodeChange(record.get("c"), record.get("d"))
    except (TypeError, ValueError, AttributeError) as e:
        raise BadEnvelope(f"bad change {record.get('c')!r}: {e}") from None
    return Envelope(user, mailbox, uidValidity, origin, seq, change)


def _field(record: dict, key: str, kind):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadEnvelope(f"{key!r} is not a {kind.__name__}")
    return value


def _decodeChange(kind, data) -> MailboxEvent | None:
    if kind == "a":
        return MessagesAdded(tuple(parseUidSet(data)))
    if kind == "x":
        return MessagesExpunged(tuple(parseUidSet(data)))
    if kind == "f":
        pairs = []
        for flags, uids in data:
            if not all(isinstance(f, str) for f in flags):
                raise ValueError("a flag is not a string")
            flagSet = frozenset(flags)
            pairs.extend((uid, flagSet) for uid in parseUidSet(uids))
        pairs.sort()
        return FlagsChanged(tuple(pairs))
    if kind == "k":
        if not isinstance(data, list) or not all(isinstance(k, str) for k in data):
            raise ValueError("keywords are not a list of strings")
        return KeywordsAdded(tuple(data))
    return None  # "r", or a kind of a later version: re-reading the mailbox is always right


def _flagGroups(pairs) -> list:
    groups: dict[frozenset[str], list[int]] = {}
    for uid, flags in pairs:
        groups.setdefault(flags, []).append(uid)
    return [[sorted(flags), uidSet(sorted(uids))] for flags, uids in groups.items()]


def uidSet(uids) -> str:
    """Ascending UIDs as an RFC 4315 uid-set: C{[1, 2, 3, 7]} -> C{"1:3,7"}."""
    out = []
    start = prev = None
    for uid in uids:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


#: A uid-set from the bus may name at most this many UIDs (a bad peer must not make a
#: receiver build a list of 4 billion).
MAX_SET_UIDS = 1_000_000


def parseUidSet(text) -> list[int]:
    """The ascending UIDs of an RFC 4315 uid-set; C{ValueError} if it is not one."""
    if not isinstance(text, str):
        raise ValueError("a uid-set is not a string")
    uids: list[int] = []
    if not text:
        return uids
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        if not 0 < first <= last or last - first + len(uids) >= MAX_SET_UIDS:
            raise ValueError(f"bad range {part!r}")
        uids.extend(range(first, last + 1))
    if any(a >= b for a, b in zip(uids, uids[1:])):
        uids = sorted(set(uids))
    return uids
