"""
Long commands in slices: a command that works through many messages (SEARCH, FETCH) gives
the reactor back every few milliseconds, so that every other connection keeps being
greeted and answered while it runs.
"""

from __future__ import annotations

import time

from twisted.internet import task
from twisted.internet.error import ConnectionDone

from idlemail.server.registry import LOGOUT

#: The longest stretch of work between two returns to the reactor (seconds).
SLICE = 0.01


class Slices:
    """C{if slices.due(): await slices.pause()} between two units of work."""

    __slots__ = ("session", "_since")

    def __init__(self, session):
        self.session = session
        self._since = time.perf_counter()

    def due(self) -> bool:
        return time.perf_counter() - self._since >= SLICE

    async def pause(self) -> None:
        """Let the reactor run; raise L{ConnectionDone} if the client went away meanwhile."""
        self.session.flushOutput()  # what the slice made goes out while others run
        await task.deferLater(self.session.factory.clock, 0)
        if self.session.state == LOGOUT:
            raise ConnectionDone("the client went away during the command")
        self._since = time.perf_counter()
