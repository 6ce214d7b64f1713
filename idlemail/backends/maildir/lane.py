"""
A folder's serial queue of disk work (its "lane").

Jobs run one at a time, in the order they were submitted, in the backend's disk
threads, and back to back: the next job starts in the thread as soon as the previous
one has finished there, without waiting for the reactor. Each job's result is then
applied on the reactor thread, in the same order, and its Deferred fires.

A job that must wait (another program holds C{dovecot-uidlist.lock}) returns
L{Later}: the lane gives its thread back and the reactor starts it again after the
delay (C{callLater}), with that job still first. L{Lane.hold} stops the lane at a point
of its order so that the reactor can do something with the folder alone (delete it,
rename it) and then let the lane go on.
"""

from __future__ import annotations

import threading
from collections import deque

from twisted.internet import defer
from twisted.python.failure import Failure

TURN = 32  # jobs a lane runs before giving its thread to other waiting work


class Later:
    """What a job returns to be run again, first in its lane, in C{delay} seconds."""

    __slots__ = ("delay",)

    def __init__(self, delay: float):
        self.delay = delay


class _Job:
    __slots__ = ("work", "apply", "done")

    def __init__(self, work, apply, done):
        self.work, self.apply, self.done = work, apply, done


class Lane:
    """
    @ivar pending: jobs submitted whose results are not yet applied (reactor side).
    """

    def __init__(self, pool, reactor):
        self.pool, self.reactor = pool, reactor
        self.pending = 0
        self._jobs: deque[_Job] = deque()
        self._guard = threading.Lock()
        self._running = False  # a thread works the lane, or it waits (Later, hold)

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def submit(self, work, apply=None) -> defer.Deferred:
        """
        C{work()} in a disk thread after every job submitted before; then, on the
        reactor, C{apply(result)}. The Deferred fires with what C{apply} returns (or
        the result of C{work} if there is no C{apply}), or fails with what either raised.
        """
        return self._add(_Job(work, apply, defer.Deferred()))

    def hold(self) -> defer.Deferred:
        """
        Deferred firing on the reactor, once every job submitted before is done and
        applied, with a C{release()} to call when done; jobs submitted meanwhile wait.
        """
        return self._add(_Job(None, None, defer.Deferred()))

    def _add(self, job: _Job) -> defer.Deferred:
        self.pending += 1
        with self._guard:
            self._jobs.append(job)
            start, self._running = not self._running, True
        if start:
            self.pool.callInThread(self._work)
        return job.done

    def _work(self) -> None:  # in a disk thread
        for _ in range(TURN):
            with self._guard:
                if not self._jobs:
                    self._running = False
                    return
                job = self._jobs[0]
            if job.work is None:  # a hold: the reactor takes over, the lane waits
                self.reactor.callFromThread(self._held, job)
                return
            try:
                result = job.work()
            except BaseException:
                result = Failure()
            if isinstance(result, Later):
                self.reactor.callFromThread(self.reactor.callLater, result.delay,
                                            self.pool.callInThread, self._work)
                return
            with self._guard:
                self._jobs.popleft()
            self.reactor.callFromThread(self._finish, job, result)
        # A busy lane lets the other folders' work (waiting for a thread) have a turn.
        self.pool.callInThread(self._work)

    def _finish(self, job: _Job, result) -> None:
        self.pending -= 1
        if isinstance(result, Failure):
            job.done.errback(result)
            return
        try:
            value = result if job.apply is None else job.apply(result)
        except BaseException:
            job.done.errback(Failure())
            return
        job.done.callback(value)

    def _held(self, job: _Job) -> None:
        self.pending -= 1
        with self._guard:
            self._jobs.popleft()
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self.pool.callInThread(self._work)
        job.done.callback(release)
