"""
What travels on the change bus: an L{Envelope} (whose mailbox changed, in which process,
the how-manyeth change of that mailbox from that process) around a change from
L{idlemail.events}, and its compact JSON form for a bus between processes.

Wire form (one JSON object, UTF-8, keys kept short because every change of every mailbox
is sent once per process that serves it)::

  {"v": 1, "o": "mx1:4242:9f2c61d0", "s": 17, "u": "alice", "m": "INBOX",
   "uv": 1700000000, "c": "a", "d": "41:43,45"}

C{c} is the kind of change (L{idlemail.bus.changes}), C{d} its first field and C{e}
its other fields by name (left out when there are none): C{"a"} messages added and C{"x"}
expunged (C{d}: an RFC 4315 uid-set, C{"41:43,45"}), C{"f"} flags changed (C{d}: a list of
C{[flags, uid-set]} pairs, one per distinct flag set), C{"k"} keywords added (C{d}: a list),
C{"z"} mailbox reset; a kind added later goes by its class name. C{"r"} is "something
changed, re-read the mailbox" (no C{d}; also what an envelope of a kind this version does
not know decodes to). C{uv} is 0 when the publisher does not know the UIDVALIDITY (an MDA
hook).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field

from idlemail.bus.changes import REREAD, decodeChange, encodeChange
from idlemail.events import MailboxEvent

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
    if envelope.change is None:
        record["c"] = REREAD
    else:
        kind, first, rest = encodeChange(envelope.change)
        record["c"] = kind
        if first is not None:
            record["d"] = first
        if rest is not None:
            record["e"] = rest
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
        change = decodeChange(record.get("c"), record.get("d"), record.get("e"))
    except (TypeError, ValueError) as e:
        raise BadEnvelope(f"bad change {record.get('c')!r}: {e}") from None
    return Envelope(user, mailbox, uidValidity, origin, seq, change)


def _field(record: dict, key: str, kind):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadEnvelope(f"{key!r} is not a {kind.__name__}")
    return value
