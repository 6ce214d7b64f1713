"""
Dovecot's dot-lock (C{dovecot-uidlist.lock}), taken and judged stale by the rules of
Dovecot's C{lib/file-dotlock.c} with the settings of C{maildir-uidlist.c}, so that
idlemail and Dovecot can share a Maildir:

- The lock is C{<file>.lock}, made with O_EXCL, holding C{pid:hostname}.
- Its holder is known dead, and the lock is taken over, when it names a process of this
  host that does not exist (read only once the lock is 2 s old: a younger one may be
  still being written), or this very process while none of its threads holds it (a
  restarted server that got the same pid, as in a container).
- Otherwise it is stale when neither it nor the file it protects has changed (inode,
  size, mtime, ctime) for C{STALE_TIMEOUT} (120 s); its age at first sight counts from
  its mtime, or its ctime when that is later.
- A waiter gives up after C{STALE_TIMEOUT} + 2 s, as Dovecot does.

Waiting never sleeps on the reactor thread, nor in a disk thread: L{DotLock.attempt}
tries once (in a disk thread), and L{tryLocked} asks the folder's lane to try again
later (C{callLater}), backing off as Dovecot does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from twisted.logger import Logger

from idlemail.backends.maildir.lane import Later
from idlemail.errors import IMAPError

log = Logger()

STALE_TIMEOUT = 120.0  # Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT
TIMEOUT = STALE_TIMEOUT + 2
PID_CHECK_AGE = 2.0  # Dovecot's STALE_PID_CHECK_SECS
FIRST_WAIT, MAX_WAIT = 0.002, 0.5

# Locks held by this process's threads, by path: a lock naming our own pid is stale
# only when it is not one of these.
_held: set[str] = set()
_heldGuard = threading.Lock()


class LockTimeout(IMAPError):
    def __init__(self, path: Path):
        super().__init__(f"The mailbox is locked by another program ({path.name}); "
                         "try again later", "INUSE")


def _pidAlive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def _changeInfo(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime, st.st_ctime)


class DotLock:
    """
    One writer's lock on C{path}. Used by one job at a time; its methods run in a
    disk thread, one after another.

    @param clock: the wall clock (lock times are file times).
    """

    def __init__(self, path: Path, clock=time.time):
        self.path = path
        self.lockPath = path.with_name(path.name + ".lock")
        self.clock = clock
        self._fd: int | None = None
        self._ino = None
        self._seen: dict[str, tuple] = {}
        self._lastChange = 0.0
        self._wait = FIRST_WAIT
        self._deadline: float | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    # --- taking and giving back --------------------------------------------------------
    def attempt(self) -> bool:
        """Try once to take the lock, taking over a stale one; True if now held."""
        if self._deadline is None:
            self._deadline = time.monotonic() + TIMEOUT
        for _ in range(3):
            if self._create():
                return True
            verdict = self._judge()
            if verdict == "live":
                return False
            if verdict == "stale":
                self._override()
        return False

    def nextWait(self) -> float | None:
        """How long to wait before the next attempt; None once the waiter gives up."""
        if time.monotonic() > self._deadline:
            return None
        wait, self._wait = self._wait, min(self._wait * 1.5, MAX_WAIT)
        return wait

    def release(self) -> None:
        """Remove the lock if it is still ours (a waiter may have judged it stale)."""
        if self._fd is None:
            return
        try:
            if os.lstat(self.lockPath).st_ino == self._ino:
                os.unlink(self.lockPath)
            else:
                log.warn("{path} was taken over by another process while we held it",
                         path=str(self.lockPath))
        except FileNotFoundError:
            pass
        self._forget()

    def replace(self, data: bytes) -> None:
        """
        Write C{data} into the lock file and rename it over the protected file: the
        new content and the release in one atomic step (a reader never sees half).
        """
        fd = self._fd
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.rename(self.lockPath, self.path)
        self._forget()

    def _create(self) -> bool:
        try:
            fd = os.open(self.lockPath, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, f"{os.getpid()}:{socket.gethostname()}".encode())
        except OSError:
            os.ftruncate(fd, 0)  # as Dovecot: an empty lock still locks
        with _heldGuard:
            _held.add(str(self.lockPath))
        self._fd, self._ino = fd, os.fstat(fd).st_ino
        return True

    def _forget(self) -> None:
        with _heldGuard:
            _held.discard(str(self.lockPath))
        os.close(self._fd)
        self._fd = None

    # --- judging another holder's lock -------------------------------------------------
    def _observe(self, key: str, st: os.stat_result, now: float) -> bool:
        info = _changeInfo(st)
        previous = self._seen.get(key)
        if previous == info:
            return False
        if previous is None:
            # First sight: it last changed at its mtime, or ctime if that is later.
            since = st.st_mtime if st.st_ctime < st.st_mtime <= now else st.st_ctime
        else:
            since = now
        self._lastChange = max(self._lastChange, since)
        self._seen[key] = info
        return True

    def _judge(self) -> str:
        """C{"gone"} (try again now), C{"live"} (wait) or C{"stale"} (take it over)."""
        now = self.clock()
        try:
            st = os.lstat(self.lockPath)
        except FileNotFoundError:
            return "gone"
        self._observe("lock", st, now)
        if st.st_mtime < now - PID_CHECK_AGE:
            pid = self._holderPid()
            if pid is not None:
                if pid == os.getpid():
                    with _heldGuard:
                        alive = str(self.lockPath) in _held
                else:
                    alive = _pidAlive(pid)
                if alive:
                    return "live"
                try:  # dead: unless it was replaced meanwhile, it is stale now
                    same = _changeInfo(os.lstat(self.lockPath)) == _changeInfo(st)
                except FileNotFoundError:
                    return "gone"
                if same:
                    log.warn("{path}: taking over a lock left by process {pid}, which "
                             "is gone", path=str(self.lockPath), pid=pid)
                    return "stale"
                return "gone"
        if now > self._lastChange + STALE_TIMEOUT:
            try:  # a holder at work changes the file it protects
                self._observe("file", os.lstat(self.path), now)
            except FileNotFoundError:
                pass
        if now > self._lastChange + STALE_TIMEOUT:
            log.warn("{path}: taking over a lock unchanged for {age:.0f} s",
                     path=str(self.lockPath), age=now - self._lastChange)
            return "stale"
        return "live"

    def _holderPid(self) -> int | None:
        """The pid in the lock if it names a process of this host, else None."""
        try:
            fd = os.open(self.lockPath, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            text = os.read(fd, 512).decode("utf-8", "replace").strip()
        finally:
            os.close(fd)
        pid, sep, host = text.partition(":")
        if not sep or host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
            return None
        return int(pid)

    def _override(self) -> None:
        try:
            os.unlink(self.lockPath)
        except FileNotFoundError:
            pass


def tryLocked(lock: DotLock, work, *args):
    """
    In a disk thread: C{work(lock, *args)} while holding C{lock}; or, while another
    holder has it, L{Later} (wait with C{callLater}, no thread held, and try again);
    L{LockTimeout} (NO [INUSE]) when Dovecot would give up.
    """
    if not lock.attempt():
        wait = lock.nextWait()
        if wait is None:
            raise LockTimeout(lock.lockPath)
        return Later(wait)
    try:
        return work(lock, *args)
    finally:
        lock.release()
