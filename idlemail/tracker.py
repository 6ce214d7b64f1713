"""
Per-session views of a shared mailbox (after go-imap v2's C{imapserver/tracker.go}).

A L{MailboxTracker} holds the one ascending UID list of an open mailbox and the
L{SessionTracker} of every session that has it selected. A backend publishes what
changed, by UID; the tracker updates the list and queues the change on every session.

A session's view is the mailbox as last told to that session. It is never copied: it
is the shared list cut at the highest UID the session was told of, plus the UIDs
expunged since that the session has not been told of yet. Sequence numbers are
derived from that view, so they change only when the session is sent the EXPUNGE
(RFC 3501 7.4.1), and its EXISTS never goes down.

Wake-ups are level-triggered: the tracker appends to a session's pending state and
then calls its C{wake}; whatever the session cannot send now stays pending and goes
out at the next chance, so a change that lands while a session is busy is never lost.
Everything here runs on the reactor thread.

MODSEQ (RFC 7162) rides along as a number: the tracker keeps the mailbox's highest,
and a pending flag change keeps the MODSEQ its event carried, so that a push can say it
without asking the backend. L{MailboxTracker.watchers} are told that a mailbox changed
without having it selected (NOTIFY's STATUS pushes, RFC 5465).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from time import monotonic
from typing import Callable

from twisted.logger import Logger

from idlemail.events import (
    FlagsChanged,
    KeywordsAdded,
    MailboxEvent,
    MailboxReset,
    MessagesAdded,
    MessagesExpunged,
)

_NONE: frozenset[int] = frozenset()
log = Logger()


class MailboxTracker:
    """
    The shared state of one open mailbox in one process.

    @ivar uids: the mailbox's UIDs, ascending. Read it; change it only by L{publish}.
    @ivar keywords: the mailbox's keywords, one spelling each, in the order first
        published (L{KeywordsAdded}); the FLAGS response lists them.
    @ivar onEmpty: called with the tracker when its last session closes.
    @ivar onClaim: called with the UIDs (ascending) that a read-write session has just
        claimed as its \\Recent messages, so the backend can record that they are no
        longer recent for anyone else (Maildir moves them from new/ to cur/).
    @ivar resetReason: None, or why the mailbox was reset (L{MailboxReset}): its
        sessions are to end.
    @ivar highestModseq: the mailbox's HIGHESTMODSEQ (RFC 7162) as published: the
        greatest MODSEQ of any event so far, or what the backend opened it with (0 for
        a backend that keeps none).
    @ivar version: how many changes were published; what a watcher compares to tell
        whether it is up to date.
    @ivar watchers: objects with C{mailboxChanged(tracker, event)}, told of every
        message change after the sessions (NOTIFY watches of mailboxes not selected).
    """

    __slots__ = ("uids", "sessions", "keywords", "keywordsVersion", "_keywordsLower",
                 "publishedAt", "highestModseq", "version", "watchers",
                 "_unclaimed", "onEmpty", "onClaim", "resetReason", "newestEver")

    def __init__(self, uids=(), recent=(), keywords=(), highestModseq: int = 0):
        self.uids: list[int] = sorted(uids)
        # The newest UID this tracker ever held: UIDs only grow (RFC 3501 2.3.1.1), so an
        # expunged newest message must not make room for its UID, or one below it, again.
        self.newestEver = self.uids[-1] if self.uids else 0
        self.sessions: list[SessionTracker] = []
        self.publishedAt = 0.0
        self.highestModseq = highestModseq
        self.version = 0
        self.watchers: list = []
        # \Recent belongs to exactly one session (RFC 3501 2.3.2): the first read-write
        # session told of the message. These are the recent UIDs no such session has
        # claimed yet; read-only sessions share this very set (EXAMINE shows them as
        # \Recent but never claims them, RFC 3501 6.3.2).
        self._unclaimed: set[int] = set(recent)
        self.keywords: tuple[str, ...] = ()
        self._keywordsLower: set[str] = set()
        self.keywordsVersion = 0
        self._addKeywords(keywords)
        self.onEmpty: Callable[[MailboxTracker], None] | None = None
        self.onClaim: Callable[[list[int]], None] | None = None
        self.resetReason: str | None = None

    # --- what backends may ask ---------------------------------------------------
    @property
    def recentCount(self) -> int:
        """How many messages the next session to select the mailbox sees as \\Recent
        (what STATUS RECENT reports)."""
        return len(self._unclaimed)

    @property
    def hasWriter(self) -> bool:
        """True if a read-write session has the mailbox selected: new messages are
        claimed (stop being \\Recent for others) as soon as they are published."""
        return any(not s.readonly for s in self.sessions)

    # --- sessions ----------------------------------------------------------------
    def openSession(self, wake: Callable[[], None] = lambda: None,
                    readonly: bool = False) -> SessionTracker:
        session = SessionTracker(self, wake, readonly)
        if readonly:
            session.recent = self._unclaimed
        elif self._unclaimed:
            claimed, self._unclaimed = self._unclaimed, set()
            session.recent = claimed
            self._claimed(sorted(claimed))
        self.sessions.append(session)
        return session

    def closeSession(self, session: SessionTracker) -> None:
        try:
            self.sessions.remove(session)
        except ValueError:
            return
        session.closed = True
        if not self.sessions and self.onEmpty is not None:
            self.onEmpty(self)

    def _claimed(self, uids: list[int]) -> None:
        if self.onClaim is not None:
            try:
                self.onClaim(uids)
            except Exception:
                log.failure("Recording claimed \\Recent messages failed")

    def _addKeywords(self, keywords) -> bool:
        fresh = []
        for keyword in keywords:
            lower = keyword.lower()
            if lower not in self._keywordsLower:
                self._keywordsLower.add(lower)
                fresh.append(keyword)
        if fresh:
            self.keywords += tuple(fresh)
            self.keywordsVersion += 1
        return bool(fresh)

    # --- changes -----------------------------------------------------------------
    def _refused(self, uids, fresh) -> None:
        # A UID published again while held is normal (two paths told the same message);
        # one at or below the newest ever that is not held means the backend published
        # out of order: the message cannot be shown without breaking sequence numbers.
        lost = _notHeld(self, [u for u in uids if u <= self.newestEver])
        if lost:
            log.warn("Dropped MessagesAdded for UIDs {uids} at or below the newest ever "
                     "held ({newest}): published out of order", uids=lost[:10],
                     newest=self.newestEver)

    def publish(self, event: MailboxEvent, origin: object = None) -> None:
        """
        Apply C{event} to the UID list and queue it on every session, then wake each.
        A session whose wake fails is logged; the others are still woken.

        @param origin: the L{SessionTracker} (or None) whose command made the change.
        """
        # For the push latency metric (change published -> bytes written to an idler).
        self.publishedAt = monotonic()
        modseq = getattr(event, "modseq", 0)
        if modseq > self.highestModseq:
            self.highestModseq = modseq
        if isinstance(event, MessagesAdded):
            fresh = [uid for uid in event.uids if uid > self.newestEver]
            if len(fresh) < len(event.uids):
                self._refused(event.uids, fresh)
            if not fresh:
                return
            self.newestEver = fresh[-1]
            self.uids.extend(fresh)
            claimer = next((s for s in self.sessions if not s.readonly), None)
            if claimer is None:
                self._unclaimed.update(fresh)
            else:
                if claimer.recent is _NONE:
                    claimer.recent = set()
                claimer.recent.update(fresh)
                self._claimed(fresh)
            newest = fresh[-1]
            for session in self.sessions:
                session._added(newest)
        elif isinstance(event, MessagesExpunged):
            gone = []
            for uid in sorted(set(event.uids)):
                i = bisect_left(self.uids, uid)
                if i < len(self.uids) and self.uids[i] == uid:
                    del self.uids[i]
                    gone.append(uid)
            if not gone:
                return
            self._unclaimed.difference_update(gone)
            for session in self.sessions:
                session._expunged(gone, modseq)
        elif isinstance(event, FlagsChanged):
            for session in self.sessions:
                session._flagsChanged(event.flags, origin is session, modseq)
        elif isinstance(event, KeywordsAdded):
            if not self._addKeywords(event.keywords):
                return
        elif isinstance(event, MailboxReset):
            self.resetReason = event.reason
            for session in self.sessions:
                session.reset = event.reason
        else:
            raise TypeError(f"not a mailbox event: {event!r}")
        self.version += 1
        for session in list(self.sessions):
            try:
                session.wake()
            except Exception:
                log.failure("Waking a session failed")
        if self.watchers and not isinstance(event, KeywordsAdded):
            for watcher in list(self.watchers):
                try:
                    watcher.mailboxChanged(self, event)
                except Exception:
                    log.failure("Telling a mailbox watcher failed")


def _notHeld(tracker: MailboxTracker, uids) -> list[int]:
    held = tracker.uids
    return [u for u in uids if not (0 <= bisect_left(held, u) < len(held)
                                    and held[bisect_left(held, u)] == u)]


class SessionTracker:
    """
    What one selected session has not been told yet, and its sequence numbers.

    @ivar known: the highest UID the session was told exists (via EXISTS or SELECT).
    @ivar recent: the UIDs that are \\Recent in this session (for a read-only
        session, the mailbox's unclaimed ones: shared, never copied).
    """

    __slots__ = ("mailbox", "wake", "readonly", "known", "recent", "closed", "reset",
                 "_expunged_", "_flags", "_newest", "_keywordsSeen", "_heldModseq")

    def __init__(self, mailbox: MailboxTracker, wake: Callable[[], None], readonly: bool):
        self.mailbox = mailbox
        self.wake = wake
        self.readonly = readonly
        uids = mailbox.uids
        self.known = uids[-1] if uids else 0
        # Shared empty set until this session claims a recent message: most never do.
        self.recent: set[int] | frozenset[int] = _NONE
        self.closed = False
        # Why the session must end (the mailbox was reset, L{MailboxReset}), or None.
        self.reset: str | None = mailbox.resetReason
        self._expunged_: list[int] = []  # ascending; in this view, gone from the mailbox
        # uid -> (flags, own change?, MODSEQ)
        self._flags: dict[int, tuple[frozenset[str], bool, int]] | None = None
        self._newest = self.known  # highest UID added, told or not
        self._keywordsSeen = mailbox.keywordsVersion
        self._heldModseq = 0  # the lowest MODSEQ of an expunge not told yet, or 0

    # --- fed by MailboxTracker -------------------------------------------------
    def _added(self, newest: int) -> None:
        self._newest = newest

    def _expunged(self, uids: list[int], modseq: int = 0) -> None:
        if modseq and not self._heldModseq and any(uid <= self.known for uid in uids):
            self._heldModseq = modseq
        for uid in uids:
            if uid in self.recent:
                self.recent.discard(uid)
            if self._flags:
                self._flags.pop(uid, None)
            if uid <= self.known:
                insort(self._expunged_, uid)
            # else: added and gone before this session heard of it; nothing to say

    def _flagsChanged(self, pairs, own: bool, modseq: int = 0) -> None:
        if self._flags is None:
            self._flags = {}
        for uid, flags in pairs:
            self._flags[uid] = (flags, own, modseq)

    # --- the view ---------------------------------------------------------------
    @property
    def exists(self) -> int:
        """The message count as this session knows it."""
        return bisect_right(self.mailbox.uids, self.known) + len(self._expunged_)

    def toldModseq(self) -> int:
        """
        The HIGHESTMODSEQ this session may be given now (RFC 7162): the mailbox's, less
        what an expunge it has not been told yet would hide. A client that resumes from
        it must not miss that expunge, so it is below the expunge's MODSEQ.
        """
        if self._expunged_ and self._heldModseq:
            return self._heldModseq - 1
        return self.mailbox.highestModseq

    def hasPending(self) -> bool:
        return bool(self.reset is not None or self._expunged_ or self._flags or self._newest > self.known
                    or self._keywordsSeen != self.mailbox.keywordsVersion)

    def takeKeywords(self) -> tuple[str, ...] | None:
        """The mailbox's keywords if they changed since this session was last told."""
        mailbox = self.mailbox
        if self._keywordsSeen == mailbox.keywordsVersion:
            return None
        self._keywordsSeen = mailbox.keywordsVersion
        return mailbox.keywords

    def seqOf(self, uid: int) -> int | None:
        """The sequence number of C{uid} in this view, or None if not in it."""
        uids = self.mailbox.uids
        if uid > self.known:
            return None
        i = bisect_left(uids, uid)
        j = bisect_left(self._expunged_, uid)
        present = (i < len(uids) and uids[i] == uid) or (
            j < len(self._expunged_) and self._expunged_[j] == uid)
        return i + j + 1 if present else None

    def uidAt(self, seq: int) -> int:
        """The UID at sequence number C{seq} (1-based, at most L{exists})."""
        pos = seq - 1
        uids = self.mailbox.uids
        before = 0  # pending expunges that sort before the answer
        for j, gone in enumerate(self._expunged_):
            at = bisect_left(uids, gone) + j
            if at == pos:
                return gone
            if at > pos:
                break
            before = j + 1
        return uids[pos - before]

    def uidsInView(self, lo: int = 1, hi: int | None = None) -> list[int]:
        """The UIDs of this view between C{lo} and C{hi} inclusive, ascending."""
        top = self.known if hi is None else min(hi, self.known)
        uids = self.mailbox.uids
        present = uids[bisect_left(uids, lo):bisect_right(uids, top)]
        if not self._expunged_:
            return present
        extra = [u for u in self._expunged_ if lo <= u <= top]
        return sorted(present + extra)

    def isExpunged(self, uid: int) -> bool:
        """True if C{uid} is in this view but already gone from the mailbox."""
        j = bisect_left(self._expunged_, uid)
        return j < len(self._expunged_) and self._expunged_[j] == uid

    # --- telling the session ----------------------------------------------------
    def drain(self, expunges: bool = True, ownFlags: bool = True, vanished: bool = False,
              modseqs: bool = False):
        """
        Take what the session may be told now, in the order to say it, as
        C{("FLAGS", keywords)}, C{("EXPUNGE", seq)}, C{("EXISTS", n)}, C{("RECENT", n)}
        and C{("FETCH", seq, uid, flags)} tuples; the view moves on as each is taken.
        New keywords come first: a client must know a flag before a FETCH uses it
        (RFC 3501 7.2.6).

        @param expunges: False while a FETCH, STORE or SEARCH is answered: expunges
            stay pending (RFC 3501 7.4.1).
        @param ownFlags: False after STORE .SILENT: the session's own flag changes
            are dropped, others' still go out.
        @param vanished: the expunges as one C{("VANISHED", uids)} (ascending) instead
            of EXPUNGEs, for a session that enabled QRESYNC (RFC 7162 3.2.10).
        @param modseqs: each FETCH tuple gets the message's MODSEQ as a fifth item
            (CONDSTORE enabled, RFC 7162 3.1).

        After a L{MailboxReset} it is C{[("BYE", reason)]} alone: the view's numbers
        no longer mean anything, and the session is to end.
        """
        if self.reset is not None:
            return [("BYE", self.reset)]
        out: list[tuple] = []
        if self._keywordsSeen != self.mailbox.keywordsVersion:
            out.append(("FLAGS", self.takeKeywords()))
        if expunges and self._expunged_:
            if vanished:
                out.append(("VANISHED", tuple(self._expunged_)))
            else:
                uids = self.mailbox.uids
                # Highest first, so each number is still valid when the client reads it.
                for j in range(len(self._expunged_) - 1, -1, -1):
                    gone = self._expunged_[j]
                    out.append(("EXPUNGE", bisect_left(uids, gone) + j + 1))
            self._expunged_ = []
            self._heldModseq = 0
        if self._newest > self.known:
            before = self.exists
            self.known = self._newest
            after = self.exists
            if after != before:
                out.append(("EXISTS", after))
                out.append(("RECENT", len(self.recent)))
        if self._flags:
            flags, self._flags = self._flags, None
            for uid in sorted(flags):
                newFlags, own, modseq = flags[uid]
                if own and not ownFlags:
                    continue
                seq = self.seqOf(uid)
                if seq is not None:
                    out.append(("FETCH", seq, uid, newFlags, modseq) if modseqs
                               else ("FETCH", seq, uid, newFlags))
        elif self._flags is not None:
            self._flags = None
        return out
