"""
Debounce per mailbox: a burst of events for one (account, mailbox) is held until C{wait}
seconds pass without another, or C{maxDelay} since the first, then delivered in order.
C{wait = 0} passes every event through at once.
"""

from __future__ import annotations


class Debouncer:
    def __init__(self, deliver, wait: float, maxDelay: float, clock):
        self.deliver, self.wait, self.maxDelay, self.clock = deliver, wait, maxDelay, clock
        self._held: dict[tuple, list] = {}
        self._timers: dict[tuple, object] = {}
        self._first: dict[tuple, float] = {}

    def submit(self, event) -> None:
        if self.wait <= 0:
            self.deliver(event)
            return
        key = (event.account, event.mailbox)
        now = self.clock.seconds()
        held = self._held.setdefault(key, [])
        held.append(event)
        self._first.setdefault(key, now)
        timer = self._timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()
        due = min(now + self.wait, self._first[key] + self.maxDelay)
        self._timers[key] = self.clock.callLater(max(0.0, due - now), self._flush, key)

    __call__ = submit

    def _flush(self, key) -> None:
        self._timers.pop(key, None)
        self._first.pop(key, None)
        for event in self._held.pop(key, []):
            self.deliver(event)

    def flushAll(self) -> None:
        for key in list(self._held):
            timer = self._timers.get(key)
            if timer is not None and timer.active():
                timer.cancel()
            self._flush(key)
