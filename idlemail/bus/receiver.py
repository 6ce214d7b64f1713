"""
A receiver that sorts out what a bus between processes may do to a stream of envelopes:
repeat one, lose some, or be cut off. It passes each new envelope on, drops one it has
seen, and asks for a resync on a gap, on a new UIDVALIDITY and on a "re-read" envelope.
"""

from __future__ import annotations

from typing import Callable

from zope.interface import implementer

from idlemail.bus.envelope import Envelope
from idlemail.bus.interfaces import IChangeReceiver


@implementer(IChangeReceiver)
class SequencedReceiver:
    """
    Per origin, the last sequence number seen of one mailbox. An envelope numbered one
    past it is new (C{deliver(envelope)}); one at or below it is a duplicate or late
    (dropped: the store has moved on, and the receiver applies from the store anyway);
    one further on means some were lost (C{resync()}, which reads the store and so covers
    this envelope too). The first envelope of an origin is taken as it comes: what came
    before it was in the store when the subscriber read it.

    The bus calls L{resync} after an outage; the numbers seen so far are forgotten then,
    since the re-read covers everything up to now.

    @ivar gaps: how many gaps were seen (each answered by a resync).
    @ivar duplicates: how many envelopes were dropped as already seen.
    """

    __slots__ = ("deliver", "onResync", "uidValidity", "gaps", "duplicates", "_last")

    def __init__(self, deliver: Callable[[Envelope], None], resync: Callable[[], None],
                 uidValidity: int = 0):
        self.deliver, self.onResync = deliver, resync
        self.uidValidity = uidValidity
        self.gaps = self.duplicates = 0
        self._last: dict[str, int] = {}

    def changed(self, envelope: Envelope) -> None:
        last = self._last.get(envelope.origin)
        self._last[envelope.origin] = max(envelope.seq, last or 0)
        if last is not None and envelope.seq <= last:
            self.duplicates += 1
            return
        if envelope.uidValidity and envelope.uidValidity != self.uidValidity:
            known, self.uidValidity = self.uidValidity, envelope.uidValidity
            if known:  # the mailbox was deleted and made again
                self._resync()
                return
        if last is not None and envelope.seq != last + 1:
            self.gaps += 1
            self._resync()
        elif envelope.change is None:
            self._resync()
        else:
            self.deliver(envelope)

    def resync(self) -> None:
        self._last.clear()
        self.onResync()

    def _resync(self) -> None:
        # Keep the numbers: later envelopes of the same origins follow on from these.
        self.onResync()
