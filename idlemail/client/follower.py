"""
UidFollower: the messages of one selected mailbox, by UID, followed from the server's
untagged responses. Shared by the notifier's watcher and anything else that keeps a
mailbox in view over IMAP (the remote backend's upstream watcher).

The server speaks in sequence numbers (C{* 3 EXPUNGE}, C{* 3 FETCH}, C{* 40 EXISTS});
listeners hear UIDs. What it holds is proportional to what the server has named, never to
a number it claims: the UIDs it listed (4 octets each) and a plain count of messages whose
UIDs are not known yet (C{* 200000000 EXISTS} is one integer).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from typing import Protocol

from idlemail.wire import response as R

MAX_UID = 0xFFFFFFFF  # RFC 3501 section 2.3.1.1: nz-number, 32 bits


class FollowerListener(Protocol):
    def added(self, uid: int, items: dict) -> None:
        """A FETCH named a message above every UID known so far (a new one)."""

    def changed(self, uid: int, items: dict) -> None:
        """A FETCH about a message already known (flags, MODSEQ)."""

    def expunged(self, uid: int) -> None:
        """A known message is gone (EXPUNGE, or VANISHED under QRESYNC)."""

    def grew(self, unknown: int) -> None:
        """EXISTS went up: C{unknown} messages have no known UID yet."""


def _validUid(value) -> bool:
    return isinstance(value, int) and 0 < value <= MAX_UID


class UidFollower:
    def __init__(self, listener: FollowerListener):
        self.listener = listener
        self.uids = array("I")  # ascending; uids[i] is message number i + 1
        self.exists = 0  # the server's count; at least len(uids)
        self.highestModseq: int | None = None
        self.active = False  # off until start(): SELECT's own answers are the caller's
        self.misplaced = False  # a new UID came out of order: ask for the tail again
        self._expecting: str | None = None  # "all" | "tail": the next SEARCH is a UID list

    # --- what the caller tells it ---------------------------------------------------
    def start(self, exists: int, uids=(), highestModseq: int | None = None) -> None:
        """Begin following after SELECT, knowing C{uids} (ascending) of C{exists} messages."""
        self.uids = array("I", sorted(u for u in uids if _validUid(u)))
        self.exists = max(int(exists), len(self.uids))
        self.highestModseq = highestModseq
        self.active, self.misplaced, self._expecting = True, False, None

    def expectAll(self) -> None:
        """The next SEARCH response answers C{UID SEARCH ALL}: it replaces the list."""
        self._expecting = "all"

    def expectTail(self) -> None:
        """The next SEARCH answers C{UID SEARCH UID n:*} for n above the last known UID."""
        self._expecting = "tail"

    def settle(self) -> int:
        """Trust the UIDs over the count (a server that counts messages it cannot name);
        returns how many were counted but never named."""
        phantom = self.exists - len(self.uids)
        self.exists, self.misplaced = len(self.uids), False
        return phantom

    @property
    def unknown(self) -> int:
        return self.exists - len(self.uids)

    @property
    def lastUid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def __contains__(self, uid: int) -> bool:
        i = bisect_left(self.uids, uid)
        return i < len(self.uids) and self.uids[i] == uid

    # --- what the server says -------------------------------------------------------
    def handle(self, response) -> None:
        if not self.active:
            return
        if isinstance(response, R.Exists):
            self._exists(response.n)
        elif isinstance(response, R.Expunge):
            self._expunge(response.seq)
        elif isinstance(response, R.Vanished) and not response.earlier:
            self._vanished(response.ranges)
        elif isinstance(response, R.Fetch):
            self._fetch(response.seq, response.items)
        elif isinstance(response, R.Search) and self._expecting is not None:
            self._listed(response.numbers)
        elif isinstance(response, R.Status) and response.code:
            if response.code[0] == "HIGHESTMODSEQ" and isinstance(response.code[1], int):
                self._modseq(response.code[1])

    def _exists(self, n: int) -> None:
        if n > self.exists:
            self.exists = n
            self.listener.grew(self.unknown)
        # RFC 3501 7.3.1: EXISTS never goes down without EXPUNGE; a smaller one is ignored.

    def _expunge(self, seq: int) -> None:
        if 1 <= seq <= len(self.uids):
            uid = self.uids.pop(seq - 1)
            self.exists -= 1
            self.listener.expunged(uid)
        elif len(self.uids) < seq <= self.exists:
            self.exists -= 1  # one we had not named yet

    def _vanished(self, ranges) -> None:
        for first, last in ranges:
            known = self.lastUid
            lo, hi = bisect_left(self.uids, first), bisect_right(self.uids, last)
            gone = self.uids[lo:hi]
            del self.uids[lo:hi]
            self.exists -= len(gone)
            if last > known and self.unknown > 0:
                # UIDs above the known ones are among the unnamed ones (RFC 7162 3.2.10).
                self.exists -= min(self.unknown, last - max(first, known + 1) + 1)
            for uid in gone:
                self.listener.expunged(uid)

    def _fetch(self, seq: int, items: dict) -> None:
        modseq = items.get("MODSEQ")
        if isinstance(modseq, int):
            self._modseq(modseq)
        uid = items.get("UID")
        if uid is None:
            if 1 <= seq <= len(self.uids):
                self.listener.changed(self.uids[seq - 1], items)
            return  # about a message we cannot name yet: its fetch will come
        if not _validUid(uid):
            return
        if uid > self.lastUid:
            if seq == len(self.uids) + 1:
                self.uids.append(uid)
                self.exists = max(self.exists, len(self.uids))
            else:
                self.misplaced = True
            self.listener.added(uid, items)
        elif uid in self:
            self.listener.changed(uid, items)

    def _listed(self, numbers) -> None:
        found = sorted(u for u in numbers if _validUid(u))
        if self._expecting == "all":
            self.uids = array("I", found)
        else:
            last = self.lastUid
            self.uids.extend(u for u in found if u > last)
        # The list is the server's state at this point of the stream; later EXISTS and
        # EXPUNGE are applied on top of it as they come.
        self.exists, self.misplaced, self._expecting = len(self.uids), False, None

    def _modseq(self, modseq: int) -> None:
        if self.highestModseq is None or modseq > self.highestModseq:
            self.highestModseq = modseq
