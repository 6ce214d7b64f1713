"""
What the proxy knows of one upstream mailbox, shared by every local session of it: its
UIDVALIDITY and UIDNEXT, the flags of each message by UID, and the L{MailboxTracker} its
changes are published to.

Every change is published once, whoever tells it first: a command sent through the proxy
(published at once, without waiting for the upstream's echo) or the watcher. The flags kept
per UID are what local sessions were told, so an echo that changes nothing says nothing.
"""

from __future__ import annotations

from twisted.internet import defer

from idlemail.events import (
    FlagsChanged,
    KeywordsAdded,
    MailboxReset,
    MessagesAdded,
    MessagesExpunged,
)
from idlemail.records import RECENT, SYSTEM_FLAGS, KeywordSpellings
from idlemail.tracker import MailboxTracker


class Inconsistent(Exception):
    """The upstream names a message below the newest one known that was never seen:
    the mailbox is not the one local sessions have in view."""


class MailboxState:
    """
    @param listing: uid -> flags of every message when the watcher first listed it; those
        the upstream shows as \\Recent are recent for the first local read-write session.
    """

    def __init__(self, name: str, uidValidity: int, uidNext: int | None, listing: dict,
                 permanentFlags=(), keywords=()):
        self.name = name
        self.uidValidity = uidValidity
        self.uidNext = max(int(uidNext or 1), max(listing, default=0) + 1)
        self.permanentFlags = SYSTEM_FLAGS + ("\\*",)
        self.learnPermanentFlags(permanentFlags)
        self.spellings = KeywordSpellings(k for k in keywords if not k.startswith("\\"))
        self.flags: dict[int, frozenset[str]] = {
            uid: self.spellings.canonical(flags)[0] for uid, flags in listing.items()}
        recent = [uid for uid, flags in listing.items()
                  if any(f.lower() == RECENT.lower() for f in flags)]
        self.tracker = MailboxTracker(uids=self.flags, recent=recent, keywords=self.spellings)
        # uid -> (internal date, size): a message's never change (RFC 3501 2.3.3, 2.3.4), so
        # a FETCH of FLAGS after the first needs nothing from upstream.
        self.dates: dict[int, tuple] = {}
        self.resetReason: str | None = None
        self._waiting: list[tuple[int, defer.Deferred]] = []  # whenKnown
        # Flags of messages whose STORE through the proxy is still in flight: the
        # upstream's echo of it may come first, and must not be told as someone else's.
        self._storing: dict[int, int] = {}
        self._held: dict[int, tuple] = {}

    def learnPermanentFlags(self, flags) -> None:
        """What a local client may store for good: the upstream's answer to a read-write
        SELECT. The watcher's EXAMINE is answered with none (read-only, RFC 3501 6.3.2),
        so until a SELECT says, the usual: every system flag and new keywords."""
        flags = tuple(f for f in flags if f in SYSTEM_FLAGS or f == "\\*")
        if flags:
            self.permanentFlags = flags

    @property
    def lastUid(self) -> int:
        uids = self.tracker.uids
        return uids[-1] if uids else 0

    def whenKnown(self, uid: int) -> defer.Deferred:
        """Fires once C{uid} (or a higher one) has been published, or the view reset."""
        if uid <= self.lastUid or self.resetReason is not None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiting.append((uid, d))
        return d

    def _known(self) -> None:
        last, waiting = self.lastUid, self._waiting
        if self.resetReason is not None:
            last = float("inf")
        self._waiting = [(uid, d) for uid, d in waiting if uid > last]
        for uid, d in waiting:
            if uid <= last and not d.called:
                d.callback(None)

    def canonical(self, flags) -> frozenset[str]:
        """C{flags} as the upstream gave them, in this mailbox's one spelling of each;
        keywords new to it are published first (RFC 3501 7.2.6)."""
        flags, new = self.spellings.canonical(flags)
        if new:
            self.tracker.publish(KeywordsAdded(tuple(new)))
        return flags

    # --- changes ----------------------------------------------------------------------
    def added(self, pairs, origin=None) -> None:
        """
        Messages with their flags, as the upstream listed them: those above every known
        UID are published as one L{MessagesAdded}; known ones may have new flags. Raises
        L{Inconsistent} for an unknown one below the newest known.
        """
        last = self.lastUid
        fresh, changed = [], {}
        for uid, flags in sorted(pairs):
            if uid in self.flags:
                changed[uid] = flags
            elif uid > last:
                fresh.append((uid, self.canonical(flags)))
            else:
                raise Inconsistent(f"UID {uid} appeared below {last}")
        if changed:
            self.flagsChanged(changed, origin)
        if fresh:
            for uid, flags in fresh:
                self.flags[uid] = flags
            self.uidNext = max(self.uidNext, fresh[-1][0] + 1)
            self.tracker.publish(MessagesAdded(tuple(uid for uid, _ in fresh)), origin)
            self._known()

    def appended(self, pairs) -> bool:
        """
        Messages the proxy itself added (APPENDUID, COPYUID): published at once if no
        message can be missing below them (their UIDs follow UIDNEXT without a gap);
        False if the watcher must tell (another message came in between).
        """
        uids = sorted(uid for uid, _ in pairs)
        if not uids or uids[-1] <= self.lastUid:
            return True  # the watcher was first
        if uids[0] != self.uidNext or uids[-1] - uids[0] + 1 != len(uids):
            return False
        self.added(pairs)
        return True

    def expunged(self, uids, origin=None) -> list[int]:
        gone = sorted(uid for uid in set(uids) if uid in self.flags)
        for uid in gone:
            del self.flags[uid]
            self.dates.pop(uid, None)
        if gone:
            self.tracker.publish(MessagesExpunged(tuple(gone)), origin)
        return gone

    def flagsChanged(self, flagsByUid: dict, origin=None) -> dict[int, frozenset[str]]:
        """New flag sets (as the upstream gave them) of known messages; returns them in
        our spelling. Only those that differ from what sessions were told are published."""
        out, changed = {}, []
        for uid, flags in sorted(flagsByUid.items()):
            if uid not in self.flags:
                continue
            flags = self.canonical(flags)
            out[uid] = flags
            if flags != self.flags[uid]:
                self.flags[uid] = flags
                changed.append((uid, flags))
        if changed:
            self.tracker.publish(FlagsChanged(tuple(changed)), origin)
        return out

    def echo(self, flagsByUid: dict) -> None:
        """Flags the watcher saw: held back for messages with a STORE in flight."""
        now = {}
        for uid, flags in flagsByUid.items():
            if uid in self._storing:
                self._held[uid] = flags
            else:
                now[uid] = flags
        if now:
            self.flagsChanged(now)

    def storeStarted(self, uids) -> None:
        for uid in uids:
            self._storing[uid] = self._storing.get(uid, 0) + 1

    def storeEnded(self, uids, result: dict, origin=None) -> tuple[dict, list[int]]:
        """
        The STORE's answer (uid -> flags as the upstream gave them) is published as the
        origin's own change; returns it in our spelling, and the UIDs whose held echo
        differs from it (someone else changed them meanwhile, before or after: the
        watcher must look again).
        """
        settled = []
        for uid in uids:
            left = self._storing.get(uid, 0) - 1
            if left > 0:
                self._storing[uid] = left
            else:
                self._storing.pop(uid, None)
                settled.append(uid)
        told = self.flagsChanged(result, origin)
        again = []
        for uid in settled:
            held = self._held.pop(uid, None)
            if held is not None and uid in self.flags and \
                    self.spellings.canonical(held, False)[0] != self.flags[uid]:
                again.append(uid)
        return told, again

    def resync(self, listing: dict) -> None:
        """
        The whole mailbox as the upstream lists it now (uid -> flags), after a reconnect:
        what was expunged, what arrived and what changed are published, in that order.
        Raises L{Inconsistent} as L{added} does.
        """
        last = self.lastUid
        if any(uid <= last and uid not in self.flags for uid in listing):
            raise Inconsistent("the upstream lists messages never seen below the newest")
        self.expunged([uid for uid in self.flags if uid not in listing])
        self.added([(uid, flags) for uid, flags in listing.items() if uid > last])
        self.flagsChanged({uid: flags for uid, flags in listing.items() if uid <= last})

    def reset(self, reason: str) -> None:
        """This view is over: its sessions are told to end (L{MailboxReset})."""
        if self.resetReason is None:
            self.resetReason = reason
            self.tracker.publish(MailboxReset(reason))
            self._known()
