"""
The Maildir backend's disk threads: a bounded L{ThreadPool} of its own (not the
reactor's default pool, not the password-check pool), started on first use and
stopped with the backend.

Every wait on the disk (fsync, reads, stats, renames, unlinks, directory listings, the
uidlist and its lock) runs here, so that one connection's disk never delays another
connection's answer. A thread only computes and touches files; what it found is
applied to in-memory state by a callback on the reactor thread (see
L{idlemail.backends.maildir.folder}).
"""

from __future__ import annotations

import time

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

DEFAULT_THREADS = 4
BREATHE_EVERY = 1024


def breathing(items):
    """C{items}, letting go of the GIL every so often: a disk thread's long loop (a
    20,000-file scan) must not keep the reactor thread waiting for it."""
    for n, item in enumerate(items, 1):
        if not n % BREATHE_EVERY:
            time.sleep(0)
        yield item


class DiskPool:
    def __init__(self, reactor, size: int = DEFAULT_THREADS):
        if size < 1:
            raise ValueError("a disk pool needs at least one thread")
        self.reactor, self.size = reactor, size
        self._pool: ThreadPool | None = None
        self._trigger = None

    def _started(self) -> ThreadPool:
        if self._pool is None:
            # Started on first use, not when built: twistd may fork (daemonize) between.
            self._pool = ThreadPool(0, self.size, name="idlemail-maildir")
            self._pool.start()
            self._trigger = self.reactor.addSystemEventTrigger(
                "during", "shutdown", self.stop)
        return self._pool

    def run(self, f, *args, **kwargs) -> defer.Deferred:
        """C{f(*args, **kwargs)} in a disk thread; a Deferred firing on the reactor."""
        return threads.deferToThreadPool(self.reactor, self._started(), f, *args, **kwargs)

    def callInThread(self, f, *args) -> None:
        """C{f(*args)} in a disk thread; it reports back itself (see L{Lane})."""
        self._started().callInThread(f, *args)

    def stop(self) -> None:
        """Finish the jobs under way and end the threads (a later run() starts anew)."""
        pool, self._pool = self._pool, None
        if self._trigger is not None:
            try:
                self.reactor.removeSystemEventTrigger(self._trigger)
            except (ValueError, KeyError):
                pass  # shutdown is what called us
            self._trigger = None
        if pool is not None:
            pool.stop()
