"""
Checking credentials without letting a login storm hurt anyone: password checks run on a
small thread pool of their own, and logins a backend accepted are remembered for a while
(Dovecot's auth_cache), so that 200 connections of 10 users cost 10 password hashes.

The cache keeps, per user, a keyed hash (HMAC with a key made at random for this process)
of each password that C{login} accepted, never the password. An entry is used only while
it is younger than the time to live and the backend's C{credentialsVersion()} has not
changed since, so a new password works at once (it is not in the cache, so the backend
checks it) and an old one stops working as soon as the backend says its credentials
changed. A failed login is never remembered. Concurrent logins with the same credentials
share one check (single flight).

The cache works for backends that provide L{idlemail.interfaces.ICachedLogin}; others are
asked every time.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from idlemail import passwd
from idlemail.interfaces import ICachedLogin

#: Users with an accepted password kept at most; the least recently added go first.
MAX_ENTRIES = 100_000


class AuthThreads:
    """
    The thread pool password checks run on (C{[server] auth_threads} threads), installed
    for L{idlemail.passwd} while started: never the reactor's default pool, which disk
    work may use, so that hashing queues only behind hashing.
    """

    def __init__(self, size: int = 2):
        self.size = max(1, size)
        self.pool: ThreadPool | None = None  # a new one each start: a pool stops for good

    def start(self) -> None:
        if self.pool is None:
            self.pool = ThreadPool(minthreads=0, maxthreads=self.size, name="idlemail-auth")
            self.pool.start()
            _running.append(self.pool)
            passwd.useThreadPool(self.pool)

    def stop(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            _running.remove(pool)
            # Another server of this process may still run: its pool takes over.
            passwd.useThreadPool(_running[-1] if _running else None)
            pool.stop()


#: The pools of the servers running in this process, the newest last.
_running: list[ThreadPool] = []


class CredentialsCache:
    """
    C{login(username, password)} as L{idlemail.interfaces.IBackend} has it, remembering
    what the backend accepted for C{ttl} seconds (0: remember nothing).
    """

    def __init__(self, backend, clock, ttl: float = 3600.0, maxEntries: int = MAX_ENTRIES):
        self.backend, self.clock, self.ttl, self.maxEntries = backend, clock, ttl, maxEntries
        self.enabled = ttl > 0 and ICachedLogin.providedBy(backend)
        self._key = os.urandom(32)
        self._accepted: dict[tuple[str, bytes], float] = {}  # -> when it expires
        self._version = None
        self._inFlight: dict[tuple[str, bytes], list[defer.Deferred]] = {}

    def login(self, username: str, password: str) -> defer.Deferred:
        if not self.enabled:
            return defer.maybeDeferred(self.backend.login, username, password)
        key = (username, self._digest(username, password))
        version = self._currentVersion()
        expires = self._accepted.get(key)
        if expires is not None:
            if expires > self.clock.seconds():
                return self._account(username)
            del self._accepted[key]
        waiting = self._inFlight.get(key)
        if waiting is not None:
            # The same credentials are being checked now: share that answer.
            d = defer.Deferred()
            waiting.append(d)
            return d.addCallback(lambda _: self._account(username))
        self._inFlight[key] = []
        d = defer.maybeDeferred(self.backend.login, username, password)
        d.addBoth(self._checked, key, version)
        return d

    def forget(self) -> None:
        """Drop every remembered login (as if the credentials had changed)."""
        self._accepted.clear()

    def _checked(self, result, key, version):
        waiting = self._inFlight.pop(key)
        if isinstance(result, Failure):
            for d in waiting:
                d.errback(result)
            return result
        # Remembered only if no change of credentials raced with the check.
        if self._currentVersion() == version:
            self._remember(key)
        for d in waiting:
            d.callback(None)
        return result

    def _remember(self, key) -> None:
        self._accepted.pop(key, None)
        self._accepted[key] = self.clock.seconds() + self.ttl
        while len(self._accepted) > self.maxEntries:
            del self._accepted[next(iter(self._accepted))]

    def _account(self, username: str) -> defer.Deferred:
        return defer.maybeDeferred(self.backend.accountFor, username)

    def _currentVersion(self):
        version = self.backend.credentialsVersion()
        if version != self._version:
            self._version = version
            self._accepted.clear()
        return version

    def _digest(self, username: str, password: str) -> bytes:
        data = username.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._key, data, hashlib.sha256).digest()
