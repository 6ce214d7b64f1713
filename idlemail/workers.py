"""
C{[server] workers = N}: all cores of one box. The parent (the twistd process) opens every
listening socket once, as a single process would, stops accepting on it, and starts N
worker processes (L{idlemail.worker}) that inherit the sockets and adopt them
(IReactorSocket.adoptStreamPort): the kernel hands each new connection to one of them.

The parent supervises: a worker that dies is started again after a short backoff (0.25 s,
doubling, at most 30 s; back to the start once a worker has lived a minute), SIGTERM stops
every worker and waits for them (SIGKILL after a grace period), and a worker whose parent
is gone stops by itself (its stdin, a pipe from the parent, closes). Each worker logs
through the parent, as JSON records on its stdout that the parent logs again with the
worker's index (C{[worker-2]} in the text log, C{"worker": 2} in JSON logs).

Workers share no memory. With the Maildir backend each sees the others' changes through
inotify, as it sees any other program's, so no bus is needed on one box.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, eventFromJSON, globalLogPublisher

from idlemail.listen import BoundSocket, bindForWorkers

log = Logger()

FIRST_FD = 3  # the workers' sockets: 3, 4, ... in the order of the listen strings
# Environment a worker must not act on: the sockets systemd gave the parent, its notify
# socket (only the parent speaks to systemd).
_PARENT_ONLY = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET")


def workerCommand(configPath: str, index: int, sockets: list[BoundSocket]) -> list[str]:
    described = [{"fd": FIRST_FD + i, "family": int(s.family), "listen": s.description}
                 for i, s in enumerate(sockets)]
    return [sys.executable, "-m", "idlemail.worker", "--config", configPath,
            "--index", str(index), "--sockets", json.dumps(described)]


class _Worker(ProcessProtocol):
    """One worker process: its log records relayed, its end reported to the supervisor."""

    def __init__(self, supervisor: "WorkerSupervisor", index: int, started: float):
        self.supervisor, self.index, self.started = supervisor, index, started
        self.pid = None
        self._out = self._err = b""

    def connectionMade(self) -> None:
        self.pid = self.transport.pid

    def outReceived(self, data: bytes) -> None:
        self._out += data
        *records, self._out = self._out.split(b"\n")
        for record in records:
            self._relay(record.strip(b"\x1e \r"))

    def errReceived(self, data: bytes) -> None:
        # Only what bypasses the logger: a crash before logging starts, a C extension.
        self._err += data
        *lines, self._err = self._err.split(b"\n")
        for line in lines:
            if line.strip():
                log.warn("worker {worker} (pid {pid}): {line}", worker=self.index,
                         pid=self.pid, line=line.decode("utf-8", "replace"))

    def _relay(self, record: bytes) -> None:
        if not record:
            return
        try:
            event = eventFromJSON(record.decode("utf-8", "replace"))
        except ValueError:
            log.warn("worker {worker}: {line}", worker=self.index,
                     line=record.decode("utf-8", "replace"))
            return
        system = event.get("log_system")
        event["log_system"] = (f"worker-{self.index}" if system in (None, "-")
                               else f"worker-{self.index},{system}")
        event["worker"] = self.index
        globalLogPublisher(event)

    def processEnded(self, reason) -> None:
        self.supervisor._ended(self, reason.value)


class WorkerSupervisor(Service):
    """
    Binds C{listen} when privileged (twistd does that before dropping privileges), starts
    C{count} workers when started, restarts the ones that die, stops them all when stopped.

    @ivar workers: index -> the live L{_Worker} (its C{pid}).
    @ivar restarts: how many workers were started again after dying.
    """

    initialDelay, maxDelay, stableAfter, stopGrace = 0.25, 30.0, 60.0, 10.0

    def __init__(self, configPath: str, listen, count: int, where: str = "server.listen",
                 reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.configPath = os.path.abspath(configPath)
        self.listen, self.count, self.where = tuple(listen), count, where
        self.reactor = reactor
        self.sockets: list[BoundSocket] = []
        self.workers: dict[int, _Worker] = {}
        self.restarts = 0
        self._failures: dict[int, int] = {}
        self._respawns: dict[int, object] = {}
        self._stopped: defer.Deferred | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if not self.sockets:
            self.sockets = [bindForWorkers(d, self.where, self.reactor) for d in self.listen]

    def startService(self) -> None:
        if not self.sockets:
            self.privilegedStartService()
        super().startService()
        for index in range(1, self.count + 1):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._respawns.pop(index, None)
        worker = _Worker(self, index, self.reactor.seconds())
        childFDs = {0: "w", 1: "r", 2: "r"}
        for i, bound in enumerate(self.sockets):
            childFDs[FIRST_FD + i] = bound.fd
        env = {k: v for k, v in os.environ.items() if k not in _PARENT_ONLY}
        try:
            self.reactor.spawnProcess(worker, sys.executable,
                                      workerCommand(self.configPath, index, self.sockets),
                                      env=env, childFDs=childFDs)
        except OSError as e:  # out of processes or descriptors: try again later
            log.error("cannot start worker {worker}: {error}; trying again in {delay:.0f} s",
                      worker=index, error=e.strerror, delay=self.maxDelay)
            self._respawns[index] = self.reactor.callLater(self.maxDelay, self._spawn, index)
            return
        self.workers[index] = worker
        log.info("worker {worker} started (pid {pid})", worker=index, pid=worker.pid)

    def _ended(self, worker: _Worker, status) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        how = describeExit(status)
        if not self.running:
            log.info("worker {worker} (pid {pid}) {how}", worker=worker.index,
                     pid=worker.pid, how=how)
            if not self.workers and self._stopped is not None:
                self._stopped, done = None, self._stopped
                done.callback(None)
            return
        lived = self.reactor.seconds() - worker.started
        failures = 0 if lived >= self.stableAfter else self._failures.get(worker.index, 0) + 1
        self._failures[worker.index] = failures
        delay = min(self.initialDelay * 2 ** max(failures - 1, 0), self.maxDelay)
        log.warn("worker {worker} (pid {pid}) {how} after {lived:.1f} s; starting it again "
                 "in {delay:.2f} s", worker=worker.index, pid=worker.pid, how=how,
                 lived=lived, delay=delay)
        self.restarts += 1
        self._respawns[worker.index] = self.reactor.callLater(delay, self._spawn, worker.index)

    def stopService(self):
        super().stopService()
        for call in self._respawns.values():
            call.cancel()
        self._respawns.clear()
        done = defer.succeed(None)
        if self.workers:
            done = self._stopped = defer.Deferred()
            for worker in list(self.workers.values()):
                _signal(worker, "TERM")
            kill = self.reactor.callLater(self.stopGrace, self._killAll)
            done.addBoth(lambda result: kill.cancel() if kill.active() else None)
        return done.addBoth(lambda _: self._closeSockets())

    def _killAll(self) -> None:
        for worker in list(self.workers.values()):
            log.warn("worker {worker} (pid {pid}) did not stop in {grace:.0f} s; killing it",
                     worker=worker.index, pid=worker.pid, grace=self.stopGrace)
            _signal(worker, "KILL")

    def _closeSockets(self) -> None:
        sockets, self.sockets = self.sockets, []
        for bound in sockets:
            bound.port.stopListening()


def _signal(worker: _Worker, name: str) -> None:
    try:
        worker.transport.signalProcess(name)
    except Exception:  # already gone: processEnded is on its way
        pass


def describeExit(status) -> str:
    """C{ProcessDone}/C{ProcessTerminated} as words: "exited with 1", "was killed by SIGKILL"."""
    sig = getattr(status, "signal", None)
    if sig:
        try:
            return f"was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"was killed by signal {sig}"
    return f"exited with {getattr(status, 'exitCode', '?')}"
