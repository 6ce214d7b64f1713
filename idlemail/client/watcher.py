"""
MailboxWatcher: one connection that watches one mailbox of one account, forever.

Its connection life is Twisted's L{ClientService}: connect, C{prepareConnection} (greeting,
STARTTLS, login, ENABLE, SELECT), and after a failure or a loss, connect again after a
jittered exponential backoff (L{backoffPolicy}), or after C{authRetry} when the
credentials were refused. What happens on a connection after SELECT is a
L{WatchSession}'s state machine (syncing, idling, polling).

Events about the account:
- C{account.up} when it is first watched, and again after an C{account.down};
- C{account.down} once, when it has been unreachable (cannot connect, log in or stay
  connected) for C{downAfter} seconds, with a readable reason;
- C{account.auth_failed} each time the server refuses the credentials.

The clock is injected (C{reactor}), so every timer can be driven by a test clock.
"""

from __future__ import annotations

import random

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from idlemail.client.cursor import Cursor, CursorStore, compactUids
from idlemail.client.events import (
    ACCOUNT_AUTH_FAILED,
    ACCOUNT_DOWN,
    ACCOUNT_UP,
    WatchEvent,
)
from idlemail.client.failures import AuthenticationFailed, ConnectionDead, describe
from idlemail.client.login import deadline, endpointFor, openSession
from idlemail.client.protocol import IMAPClientProtocol
from idlemail.client.settings import WatchSettings
from idlemail.client.watchsession import MAX_KNOWN_UIDS_PARAMETER, WatchSession

__all__ = ["MailboxWatcher", "WatchSettings", "AuthenticationFailed", "ConnectionDead",
           "formatDuration"]


def formatDuration(seconds: float) -> str:
    """C{130} -> C{"2m10s"}; C{45.2} -> C{"45s"}; C{3720} -> C{"1h2m"}."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s".replace("m00s", "m")
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m".replace("h00m", "h")


class _ClientService(ClientService):
    """ClientService without its own retry line: the watcher logs one with the reason."""

    _log = Logger(observer=lambda event: None)


class _WatchedProtocol(IMAPClientProtocol):
    """Remembers when it last heard anything: the watcher's liveness signal."""

    clock = None
    lastReceived = 0.0

    def connectionMade(self):
        super().connectionMade()
        self.lastReceived = self.clock.seconds()
        try:
            self.transport.setTcpKeepAlive(True)
        except (AttributeError, OSError):
            pass

    def dataReceived(self, data):
        self.lastReceived = self.clock.seconds()
        return super().dataReceived(data)


class _SessionFactory(Factory):
    noisy = False

    def __init__(self, watcher):
        self.watcher = watcher

    def buildProtocol(self, addr):
        w = self.watcher
        proto = _WatchedProtocol(w.settings.maxLiteralSize)
        proto.clock = w.reactor
        proto.factory = self
        w._session = WatchSession(w, proto)
        return proto


class _ReportingEndpoint:
    """The configured endpoint, built at each attempt (a CA file may appear later), whose
    failures the watcher hears of, and whose repr in ClientService's log is C{host:port}."""

    def __init__(self, watcher):
        self.watcher = watcher

    def connect(self, factory):
        w = self.watcher
        w.state = "connecting"
        try:
            d = endpointFor(w.reactor, w.settings).connect(factory)
        except Exception as e:
            d = defer.fail(e)
        d = deadline(d, w.settings.commandTimeout, w.reactor)
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        if self.watcher.running:  # not the cancel of a stop
            self.watcher.noteFailure(describe(failure, self.watcher.settings.address,
                                              connecting=True))
        return failure

    def __repr__(self) -> str:
        return self.watcher.settings.address


class MailboxWatcher(Service):
    log = Logger()

    def __init__(self, settings: WatchSettings, emit, cursors: CursorStore | None = None,
                 reactor=None, rng=random.random):
        if reactor is None:
            from twisted.internet import reactor
        self.settings, self.emit, self.reactor, self.rng = settings, emit, reactor, rng
        self.cursors = cursors if cursors is not None else CursorStore(None)
        self.state = "stopped"
        self.up = False
        self.failures = 0  # attempts since the mailbox was last watched
        self.connections = 0  # how many sessions got as far as watching: tests and doctor
        self.capabilities: frozenset = frozenset()
        self.lastReason: str | None = None
        self._session: WatchSession | None = None
        self._client: _ClientService | None = None
        self._backoff = backoffPolicy(settings.backoffInitial, settings.backoffMax, factor=2.0,
                                      jitter=lambda: 0.0)
        self._authRefused = False
        self._everUp = False
        self._downSince: float | None = None
        self._downReported = False
        self._downTimer = None
        self._uidvalidity: int | None = None

    @property
    def session(self) -> WatchSession | None:
        """The current connection's session (its C{follower}, C{highest}), if any."""
        return self._session

    @property
    def name(self) -> str:
        return f"{self.settings.account}/{self.settings.mailbox}"

    # --- service ------------------------------------------------------------------
    def startService(self):
        super().startService()
        self._downSince, self._downReported = self.reactor.seconds(), False
        self._client = _ClientService(_ReportingEndpoint(self), _SessionFactory(self),
                                     retryPolicy=self._retryDelay, clock=self.reactor,
                                     prepareConnection=self._prepare)
        self._client.startService()

    def stopService(self):
        super().stopService()
        self._cancelDownTimer()
        client, self._client = self._client, None
        d = client.stopService() if client is not None else defer.succeed(None)

        def stopped(result):
            self.state, self.up = "stopped", False
            return result
        return d.addBoth(stopped)

    # --- events and the cursor ----------------------------------------------------
    def event(self, name: str, **fields) -> WatchEvent:
        event = WatchEvent(name, self.settings.account, self.settings.mailbox, **fields)
        self.emit(event)
        return event

    def cursor(self) -> Cursor | None:
        return self.cursors.get(self.settings.account, self.settings.mailbox)

    def saveCursor(self, cursor: Cursor) -> None:
        self.cursors.put(self.settings.account, self.settings.mailbox, cursor)

    # --- one connection: prepare, then the session's machine ------------------------
    async def _prepareSession(self, session: WatchSession) -> None:
        s, proto = self.settings, session.proto

        def step(name, **info):
            if name == "authenticating":
                self.state = "authenticating"

        caps = await openSession(proto, s, self.reactor, s.commandTimeout, onStep=step)
        self.capabilities = caps
        self.state = "syncing"
        cursor = self.cursor()
        parameters = None
        if "QRESYNC" in caps and "ENABLE" in caps:
            await deadline(proto.enable("QRESYNC"), s.commandTimeout, self.reactor)
            session.condstore = "QRESYNC" in proto.enabled  # QRESYNC implies CONDSTORE
            if session.condstore and cursor is not None and cursor.modseq is not None \
                    and cursor.uidvalidity is not None:
                parameters = self._qresyncParameters(cursor)
                session.qresync = True
        if not session.condstore and "CONDSTORE" in caps:
            parameters, session.condstore = b"(CONDSTORE)", True  # RFC 7162 3.1.8
        mailbox = await deadline(proto.select(s.mailbox, readonly=s.readonly,
                                              parameters=parameters),
                                 s.commandTimeout, self.reactor)
        self._uidvalidity = mailbox.uidvalidity
        session.selected(mailbox)

    @staticmethod
    def _qresyncParameters(cursor: Cursor) -> bytes:
        known = compactUids(u for u in cursor.uids if u <= cursor.highest)
        if not known or len(known) > MAX_KNOWN_UIDS_PARAMETER:
            known = ""  # without it the server says what vanished of all UIDs (RFC 7162 3.2.5)
        inner = b"%d %d" % (cursor.uidvalidity, cursor.modseq)
        if known:
            inner += b" " + known.encode()
        return b"(QRESYNC (" + inner + b"))"

    def _prepare(self, proxy) -> defer.Deferred:
        session = self._session
        d = defer.ensureDeferred(self._prepareSession(session))

        def failed(failure):
            reason = session.byeReason or describe(failure, self.settings.address,
                                                   connecting=self.state == "connecting")
            if failure.check(AuthenticationFailed):
                self._authRefused = True
                self.event(ACCOUNT_AUTH_FAILED, reason=str(failure.value))
            session.failed = reason
            if self.running:  # not the cancel of a stop
                self.noteFailure(reason)
            # ClientService (Twisted 26.10) neither closes a connection whose preparation
            # failed nor has a transition for hearing that it closed (NoTransition from
            # Waiting): close it here, without telling it.
            proxy._lostNotification = lambda reason: None
            session.close()
            return failure
        return d.addErrback(failed)

    def _retryDelay(self, attempt: int) -> float:
        self.failures += 1
        if self._authRefused:
            self._authRefused = False
            delay = self.settings.authRetry
        else:
            delay = self._backoff(self.failures - 1) * (0.5 + self.rng())  # storms stay spread
        self.state = "backoff"
        self.log.info("{name}: {reason}; reconnecting in {delay:.1f} s", name=self.name,
                      reason=self.lastReason or "connection closed", delay=delay)
        return delay

    # --- up and down --------------------------------------------------------------
    def noteFailure(self, reason: str) -> None:
        self.lastReason = reason
        self._maybeReportDown()

    def sessionUp(self, session: WatchSession) -> None:
        s = self.settings
        self.up, self.failures = True, 0
        self.connections += 1
        announce = not self._everUp or self._downReported
        how = "IDLE" if "IDLE" in self.capabilities else f"polling every {s.pollInterval:g}s"
        self.log.info("watching {name} ({how})", name=self.name, how=how)
        if self._downReported:
            self.log.info("{account} is back after {downtime}", account=s.account,
                          downtime=formatDuration(self.reactor.seconds() - self._downSince))
        self._everUp, self._downReported, self._downSince = True, False, None
        self._cancelDownTimer()
        if announce:
            self.event(ACCOUNT_UP, uidvalidity=self._uidvalidity)

    def sessionLost(self, session: WatchSession, reason) -> None:
        if session.failed is None:
            session.failed = session.byeReason or describe(reason, self.settings.address)
            self.lastReason = session.failed
        if session is self._session:
            self._session = None
        if session.up:
            self.up = False
            self._downSince = self.reactor.seconds()
        self._maybeReportDown()

    def _maybeReportDown(self) -> None:
        if self.up or self._downReported or not self.running or self._downSince is None:
            return
        left = self._downSince + self.settings.downAfter - self.reactor.seconds()
        if left > 0 or self.lastReason is None:
            if self._downTimer is None and left > 0:
                self._downTimer = self.reactor.callLater(left, self._downTimerFired)
            return
        self._cancelDownTimer()
        self._downReported = True
        self.log.warn("{name} is down: {reason}", name=self.name, reason=self.lastReason)
        self.event(ACCOUNT_DOWN, uidvalidity=self._uidvalidity, reason=self.lastReason)

    def _downTimerFired(self) -> None:
        self._downTimer = None
        self._maybeReportDown()

    def _cancelDownTimer(self) -> None:
        timer, self._downTimer = self._downTimer, None
        if timer is not None and timer.active():
            timer.cancel()
