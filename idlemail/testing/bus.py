"""A receiver for tests of what a backend publishes on the change bus (L{idlemail.bus})."""

from __future__ import annotations

from zope.interface import implementer

from idlemail.bus.interfaces import IChangeReceiver


@implementer(IChangeReceiver)
class Heard:
    """Keeps every envelope it is given, in order; counts the resyncs asked of it."""

    def __init__(self):
        self.envelopes = []
        self.resyncs = 0

    def changed(self, envelope) -> None:
        self.envelopes.append(envelope)

    def resync(self) -> None:
        self.resyncs += 1

    @classmethod
    def on(cls, bus, user: str, mailbox: str) -> "Heard":
        """A new one, subscribed to C{user}'s C{mailbox} on C{bus}."""
        heard = cls()
        bus.subscribe(user, mailbox, heard)
        return heard
