"""
The in-process change bus: what one process needs, and the local half of every other bus.
Delivery is a synchronous loop over the mailbox's receivers, on the push path of every
change, so it allocates nothing per envelope (receivers are kept in tuples that are
rebuilt on subscribe and unsubscribe, which are rare, and looked up without a key tuple).
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.bus.envelope import Envelope, EnvelopeStamper, newOrigin
from idlemail.bus.interfaces import IChangeBus, IChangeReceiver, ISubscription

log = Logger()
_NO_MAILBOXES: dict = {}


@implementer(ISubscription)
class Subscription:
    __slots__ = ("bus", "user", "mailbox", "receiver", "active")

    def __init__(self, bus: "LocalBus", user: str, mailbox: str, receiver: IChangeReceiver):
        self.bus, self.user, self.mailbox, self.receiver = bus, user, mailbox, receiver
        self.active = True

    def unsubscribe(self) -> None:
        if self.active:
            self.active = False
            self.bus._remove(self)

    def whenReady(self) -> defer.Deferred:
        return self.bus._whenReady(self)


@implementer(IChangeBus)
class LocalBus(Service):
    """
    Delivers every envelope to the receivers of its mailbox in this process, in the order
    they subscribed; a receiver that raises is logged and the rest still get it.

    @ivar onFirst: called with C{(user, mailbox)} when a mailbox gets its first receiver.
    @ivar onLast: called with C{(user, mailbox)} when its last receiver leaves.
    @ivar readiness: what L{Subscription.whenReady} asks, with C{(user, mailbox)}; None
        for "ready at once".
    """

    def __init__(self, origin: str | None = None):
        self.origin = origin or newOrigin()
        self.stamper = EnvelopeStamper(self.origin)
        self._receivers: dict[str, dict[str, tuple[IChangeReceiver, ...]]] = {}
        self._subscriptions: dict[str, dict[str, list[Subscription]]] = {}
        self.onFirst = self.onLast = self.readiness = None

    def publish(self, envelope: Envelope) -> None:
        for receiver in self._receivers.get(envelope.user, _NO_MAILBOXES).get(
                envelope.mailbox, ()):
            try:
                receiver.changed(envelope)
            except Exception:
                log.failure("A bus receiver failed on a change of {user}'s {mailbox}",
                            user=envelope.user, mailbox=envelope.mailbox)

    deliver = publish  # what a networked bus calls for an envelope from another process

    def subscribe(self, user: str, mailbox: str, receiver: IChangeReceiver) -> Subscription:
        subscription = Subscription(self, user, mailbox, receiver)
        mine = self._subscriptions.setdefault(user, {}).setdefault(mailbox, [])
        mine.append(subscription)
        self._rebuild(user, mailbox, mine)
        if len(mine) == 1 and self.onFirst is not None:
            self.onFirst(user, mailbox)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        user, mailbox = subscription.user, subscription.mailbox
        mine = self._subscriptions[user][mailbox]
        mine.remove(subscription)
        self._rebuild(user, mailbox, mine)
        if not mine and self.onLast is not None:
            self.onLast(user, mailbox)

    def _rebuild(self, user: str, mailbox: str, subscriptions: list[Subscription]) -> None:
        if subscriptions:
            self._receivers.setdefault(user, {})[mailbox] = tuple(
                s.receiver for s in subscriptions)
            return
        for table in (self._receivers, self._subscriptions):
            mailboxes = table[user]
            del mailboxes[mailbox]
            if not mailboxes:
                del table[user]

    def _whenReady(self, subscription: Subscription) -> defer.Deferred:
        if self.readiness is None or not subscription.active:
            return defer.succeed(None)
        return self.readiness(subscription.user, subscription.mailbox)

    def mailboxes(self) -> list[tuple[str, str]]:
        """The (user, mailbox) pairs that have receivers now."""
        return [(user, mailbox) for user, boxes in self._subscriptions.items()
                for mailbox in boxes]

    def receivers(self, user: str, mailbox: str) -> tuple[IChangeReceiver, ...]:
        return self._receivers.get(user, _NO_MAILBOXES).get(mailbox, ())

    def resyncAll(self) -> int:
        """Tell every receiver to resync (a networked bus is back); return how many."""
        everyone = [r for boxes in self._receivers.values() for rs in boxes.values() for r in rs]
        for receiver in everyone:
            try:
                receiver.resync()
            except Exception:
                log.failure("A bus receiver failed to resync")
        return len(everyone)
