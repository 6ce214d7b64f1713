"""
The two ends of the bus a backend holds for one mailbox: a L{MailboxPublisher} that stamps
and publishes every change the backend makes or sees, and a L{TrackerFeed} that feeds the
mailbox's tracker from the bus while the mailbox is open in this process.

The session that made a change (so that it is not told of it twice) travels only inside
the process: on the envelope's C{session}, which never goes on the wire.
"""

from __future__ import annotations

from typing import Callable

from zope.interface import implementer

from idlemail.bus.envelope import Envelope
from idlemail.bus.interfaces import IChangeReceiver
from idlemail.bus.receiver import SequencedReceiver
from idlemail.events import FlagsChanged, KeywordsAdded, MailboxEvent


class MailboxPublisher:
    """Publishes one mailbox's changes made in this process (or seen by its watcher)."""

    __slots__ = ("bus", "user", "mailbox")

    def __init__(self, bus, user: str, mailbox: str):
        self.bus, self.user, self.mailbox = bus, user, mailbox

    def publish(self, change: MailboxEvent | None, uidValidity: int = 0,
                session: object = None) -> None:
        """C{change} is in the store (None: "re-read the mailbox")."""
        self.bus.publish(self.bus.stamper.stamp(self.user, self.mailbox, uidValidity, change,
                                                session))


@implementer(IChangeReceiver)
class TrackerFeed:
    """
    Subscribed for one mailbox from creation to L{unsubscribe}; feeds C{tracker} once set.

    An envelope of this process is applied to the tracker as it is. Another process's
    goes to C{lookAgain(envelope)}, which reads what it names from the store and hands
    what differs to L{apply}; a gap, a new UIDVALIDITY, a "re-read" envelope or a bus
    that was cut off call C{resync()}, which compares the whole mailbox with the store
    (L{SequencedReceiver} sorts these out).

    @ivar tracker: the mailbox's L{idlemail.tracker.MailboxTracker}, or None while it is
        being built (what is published meanwhile is in the store it is built from).
    """

    __slots__ = ("origin", "tracker", "lookAgain", "subscription", "_sequence")

    def __init__(self, bus, user: str, mailbox: str, lookAgain: Callable[[Envelope], None],
                 resync: Callable[[], None], uidValidity: int = 0):
        self.origin = bus.origin
        self.tracker = None
        self.lookAgain = lookAgain
        self._sequence = SequencedReceiver(self._deliver, resync, uidValidity)
        self.subscription = bus.subscribe(user, mailbox, self)

    def whenReady(self):
        """Fires once every change published from now on reaches this feed: read the
        store after it (L{idlemail.bus.interfaces.ISubscription.whenReady})."""
        return self.subscription.whenReady()

    def unsubscribe(self) -> None:
        self.subscription.unsubscribe()
        self.tracker = None

    # --- IChangeReceiver ---------------------------------------------------------------
    def changed(self, envelope: Envelope) -> None:
        self._sequence.changed(envelope)

    def resync(self) -> None:
        self._sequence.resync()

    # --- what the sequence lets through ----------------------------------------------
    def _deliver(self, envelope: Envelope) -> None:
        if envelope.origin == self.origin:
            if self.tracker is not None:
                self.tracker.publish(envelope.change, envelope.session)
        else:
            self.lookAgain(envelope)

    def apply(self, changes) -> None:
        """Changes read from the store (another process made them): to the tracker."""
        tracker = self.tracker
        if tracker is not None:
            for change in changes:
                tracker.publish(change)


def uidsNamed(change: MailboxEvent) -> list[int] | None:
    """The UIDs a change names, to read again from the store; None if it names none
    that would do (a kind this version does not know of): re-read the mailbox."""
    if isinstance(change, FlagsChanged):
        return [uid for uid, _ in change.flags]
    if isinstance(change, KeywordsAdded):
        return []  # the change that uses them follows, and brings them along
    uids = getattr(change, "uids", None)
    return None if uids is None else list(uids)
