"""
What the proxy knows of one upstream mailbox, shared by every local session of it: its
UIDVALIDITY and UIDNEXT, the flags of each message by UID, and the L{MailboxTracker} its
changes are published to.

Every change is published once, whoever tells it first: a command sent through the proxy
(published at once, without waiting for the upstream's echo) or the watcher. The flags kept
per UID are what local sessions were told, so an echo that changes nothing says nothing.

New messages are published in UID order and never below one published before (local
sessions could not be told of it: their numbers only grow at the end). So a message is
published only when none can be missing below it: every message up to C{highest} (the
newest UID ever published here) that still exists upstream has been published. The
watcher keeps that true by listing everything above C{highest}; the proxy's own APPEND or
COPY may publish at once only the UIDs that follow C{highest} without a gap.
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
        #: The newest UID ever published in this view (it stays when that message goes).
        self.highest = max(listing, default=0)
        self.uidNext = max(int(uidNext or 1), self.highest + 1)
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
        # UIDs expunged here that the watcher may still name (its answers already on the
        # way): not new, not a sign of a changed mailbox. Each goes once the watcher has
        # said it is gone, or has listed past it without it.
        self._gone: set[int] = set()

    def learnPermanentFlags(self, flags) -> None:
        """What a local client may store for good: the upstream's answer to a read-write
        SELECT. The watcher's EXAMINE is answered with none (read-only, RFC 3501 6.3.2),
        so until a SELECT says, the usual: every system flag and new keywords."""
        flags = tuple(f for f in flags if f in SYSTEM_FLAGS or f == "\\*")
        if flags:
            self.permanentFlags = flags

    def whenKnown(self, uid: int) -> defer.Deferred:
        """Fires once C{uid} (or a higher one) has been published, or the view reset."""
        if uid <= self.highest or self.resetReason is not None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiting.append((uid, d))
        return d

    def _known(self) -> None:
        last, waiting = self.highest, self._waiting
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
        Messages with their flags, as the upstream listed them: those above every UID
        published are published as one L{MessagesAdded}; known ones may have new flags;
        ones expunged here already are an old answer. Raises L{Inconsistent} for an
        unknown one at or below the newest published.
        """
        highest = self.highest
        fresh, changed = [], {}
        latest = dict(pairs)  # a message named twice: its later flags
        for uid in sorted(latest):
            flags = latest[uid]
            if uid in self.flags:
                changed[uid] = flags
            elif uid > highest:
                fresh.append((uid, self.canonical(flags)))
            elif uid not in self._gone:
                raise Inconsistent(f"UID {uid} appeared below {highest}")
        if changed:
            self.flagsChanged(changed, origin)
        if fresh:
            for uid, flags in fresh:
                self.flags[uid] = flags
            self.highest = fresh[-1][0]
            self.uidNext = max(self.uidNext, self.highest + 1)
            self.tracker.publish(MessagesAdded(tuple(uid for uid, _ in fresh)), origin)
            self._known()

    def appended(self, pairs) -> bool:
        """
        Messages the proxy itself added (APPENDUID, COPYUID): those not published yet
        are published at once if they follow the newest published without a gap (none
        can be missing below them); False if the watcher must tell (another message may
        have come in between, not listed yet).

        C{uidNext} from the upstream's SELECT is no proof: it may count a message that
        the upstream has numbered but does not show yet.
        """
        uids = sorted(uid for uid, _ in pairs if uid > self.highest)
        if not uids:
            return True  # published already (the watcher was first), perhaps gone since
        if uids[0] != self.highest + 1 or uids[-1] - uids[0] + 1 != len(uids):
            return False
        self.added([(uid, flags) for uid, flags in pairs if uid > self.highest])
        return True

    def expunged(self, uids, origin=None, upstreamSaid: bool = False) -> list[int]:
        """
        Messages gone; C{upstreamSaid} when the watcher heard it (it will not name them
        again), else an expunge through the proxy, whose echo may come after answers
        that still name them.
        """
        uids = set(uids)
        gone = sorted(uid for uid in uids if uid in self.flags)
        for uid in gone:
            del self.flags[uid]
            self.dates.pop(uid, None)
        if upstreamSaid:
            self._gone.difference_update(uids)
        else:
            self._gone.update(gone)
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

    def forgetGone(self, listed, below: int) -> None:
        """The watcher has listed every message under C{below} (C{listed}: whether it
        has a UID): those expunged here that it did not list, it will never name."""
        self._gone = {uid for uid in self._gone if uid >= below or listed(uid)}

    def unlisted(self, listing: dict, horizon: int) -> list[int]:
        """Published messages at or above C{horizon} that C{listing} lacks: the upstream
        may have taken them after its listing began, or expunged them."""
        return sorted(uid for uid in self.flags if uid >= horizon and uid not in listing)

    def resync(self, listing: dict, horizon: int) -> None:
        """
        The whole mailbox as the upstream lists it now (uid -> flags), after a reconnect:
        what was expunged, what arrived and what changed are published, in that order.
        The listing is complete only below C{horizon} (the UIDNEXT of the SELECT it
        answered): a published message at or above it that it lacks is not taken as
        expunged. Raises L{Inconsistent} as L{added} does.
        """
        highest = self.highest
        if any(uid <= highest and uid not in self.flags and uid not in self._gone
               for uid in listing):
            raise Inconsistent("the upstream lists messages never seen below the newest")
        horizon = max(horizon, max(listing, default=0) + 1)
        self.expunged([uid for uid in self.flags if uid < horizon and uid not in listing],
                      upstreamSaid=True)
        self.forgetGone(listing.__contains__, horizon)
        self.added([(uid, flags) for uid, flags in listing.items() if uid > highest])
        self.flagsChanged({uid: flags for uid, flags in listing.items() if uid <= highest})

    def reset(self, reason: str) -> None:
        """This view is over: its sessions are told to end (L{MailboxReset})."""
        if self.resetReason is None:
            self.resetReason = reason
            self.tracker.publish(MailboxReset(reason))
            self._known()
