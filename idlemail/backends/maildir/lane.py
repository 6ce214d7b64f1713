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

Jobs submitted as C{grouped} that wait in the lane one after another run as one group:
the lane's C{group} function runs their work back to back in one disk thread (so that
what makes them durable, one MODSEQ record's fdatasync, is done once for all of them)
and gives their results, which are then applied in order, each as if it ran alone.
"""

from __future__ import annotations

import itertools
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
    __slots__ = ("work", "apply", "done", "grouped")

    def __init__(self, work, apply, done, grouped=False):
        self.work, self.apply, self.done, self.grouped = work, apply, done, grouped


class Lane:
    """
    @param group: runs the work of grouped jobs: C{group(works)} returns their results
        in order, a L{Failure} for one that raised; it stops at one that asks to wait,
        whose result (a L{Later}) is then the last.
    @ivar pending: jobs submitted whose results are not yet applied.
    """

    def __init__(self, pool, reactor, group=None):
        self.pool, self.reactor, self.group = pool, reactor, group
        self.pending = 0
        self._jobs: deque[_Job] = deque()
        self._guard = threading.Lock()
        self._running = False  # a thread works the lane, or it waits (Later, hold)

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def submit(self, work, apply=None, grouped: bool = False, inline: bool = False,
               done: defer.Deferred | None = None) -> defer.Deferred:
        """
        C{work()} in a disk thread after every job submitted before; then, on the
        reactor, C{apply(result)}. The Deferred fires with what C{apply} returns (or
        the result of C{work} if there is no C{apply}), or fails with what either raised.
        A C{grouped} job's work runs in the lane's C{group} with its neighbours'.

        C{inline}: called in a disk thread, which then works the lane itself if nobody
        does (no hand-off to another thread). The job may then be done before this
        returns: pass C{done}, a Deferred with its callbacks already added.
        """
        return self._add(_Job(work, apply, done or defer.Deferred(), grouped), inline)

    def hold(self) -> defer.Deferred:
        """
        Deferred firing on the reactor, once every job submitted before is done and
        applied, with a C{release()} to call when done; jobs submitted meanwhile wait.
        """
        return self._add(_Job(None, None, defer.Deferred()))

    def _add(self, job: _Job, inline: bool = False) -> defer.Deferred:
        with self._guard:
            self.pending += 1
            self._jobs.append(job)
            start, self._running = not self._running, True
        if start:
            if inline:
                self._work()
            else:
                self.pool.callInThread(self._work)
        return job.done

    def _work(self) -> None:  # in a disk thread
        ran = 0
        while ran < TURN:
            with self._guard:
                if not self._jobs:
                    self._running = False
                    return
                job = self._jobs[0]
                jobs = [job]
                if job.grouped:
                    for later in itertools.islice(self._jobs, 1, TURN - ran):
                        if not later.grouped:
                            break
                        jobs.append(later)
            if job.work is None:  # a hold: the reactor takes over, the lane waits
                self.reactor.callFromThread(self._held, job)
                return
            results = self._run(jobs)
            ran += len(results)
            done = []
            with self._guard:
                for result in results:
                    if isinstance(result, Later):
                        break
                    done.append((self._jobs.popleft(), result))
            if done:
                self.reactor.callFromThread(self._finishAll, done)
            if len(done) < len(results):
                self.reactor.callFromThread(self.reactor.callLater, results[-1].delay,
                                            self.pool.callInThread, self._work)
                return
        # A busy lane lets the other folders' work (waiting for a thread) have a turn.
        self.pool.callInThread(self._work)

    def _run(self, jobs: list) -> list:
        """The results of C{jobs} (in a disk thread), up to the first L{Later}."""
        if jobs[0].grouped:
            try:
                return self.group([job.work for job in jobs])
            except BaseException:
                return [Failure()] * len(jobs)
        try:
            return [jobs[0].work()]
        except BaseException:
            return [Failure()]

    def _finishAll(self, done: list) -> None:
        for job, result in done:
            self._finish(job, result)

    def _finish(self, job: _Job, result) -> None:
        with self._guard:
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
        with self._guard:
            self.pending -= 1
            self._jobs.popleft()
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self.pool.callInThread(self._work)
        job.done.callback(release)
