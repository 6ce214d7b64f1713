"""
The server factory: shared settings, the set of live sessions, the limits on what one
address and one user may hold, the login machinery (credentials cache, password thread
pool), and the sweep timers: one for IDLE keepalives and autologout (one timer for all
sessions, not one each, so an idle connection costs a few hundred bytes, not a
DelayedCall), one for the pre-login timeout.
"""

from __future__ import annotations

from twisted.internet import task
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from idlemail.interfaces import ICondStoreBackend, INotifyBackend, ISpecialUseAccount
from idlemail.metrics import NO_METRICS
from idlemail.server import sessionlog
from idlemail.server.credentials import AuthThreads, CredentialsCache
from idlemail.server.limits import DEFAULT_TRUSTED, Limits, isLoopback
from idlemail.server.notify import WatchRegistry
from idlemail.server.protocol import IMAPServerProtocol
from idlemail.server.registry import NOT_AUTHENTICATED
from idlemail.server.specialuse import SpecialUseNames
from idlemail.server.structures import StructureCache

#: RFC 3501 5.4: an autologout timer must be at least 30 minutes.
MIN_AUTOLOGOUT = 30 * 60.0
_BASE_CAPABILITIES = (b"IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE UNSELECT ID "
                      b"NAMESPACE CHILDREN ENABLE LIST-EXTENDED LIST-STATUS SPECIAL-USE "
                      b"MULTIAPPEND CATENATE ESEARCH SEARCHRES SORT SORT=DISPLAY ESORT "
                      b"THREAD=ORDEREDSUBJECT THREAD=REFERENCES BINARY")
#: Where LOGIN and AUTHENTICATE may be used without TLS ([server] plaintext_auth).
PLAINTEXT_AUTH = ("loopback", "always", "never")


def backendCapabilities(backend) -> bytes:
    """What depends on the backend: CONDSTORE and QRESYNC (RFC 7162) where it keeps
    MODSEQs, NOTIFY (RFC 5465) where watching a mailbox not selected is cheap."""
    extra = b""
    if ICondStoreBackend.providedBy(backend):
        extra += b" CONDSTORE QRESYNC"
    if INotifyBackend.providedBy(backend):
        extra += b" NOTIFY"
    return extra


class IMAPServerFactory(ServerFactory):
    protocol = IMAPServerProtocol
    noisy = False  # no "Starting factory <...0x7f...>" line in the log
    metrics = NO_METRICS  # the service sets an idlemail.metrics.Metrics when [metrics] is on
    log = Logger()

    def __init__(self, backend, reactor=None, *, idleKeepalive: float = 120.0,
                 autologout: float = MIN_AUTOLOGOUT, appendLimit: int = 50 * 1024 * 1024,
                 maxLiteral: int = 64 * 1024, maxLineLength: int = 64 * 1024,
                 preloginLiteral: int = 8 * 1024, outputBound: int = 256 * 1024,
                 tlsContext=None, sweepInterval: float | None = None,
                 plaintextAuth: str = "loopback", trustedNetworks=DEFAULT_TRUSTED,
                 maxConnectionsPerIP: int = 100, maxUserIPConnections: int = 10,
                 preloginTimeout: float = 60.0, authThreads: int = 2,
                 authCacheTTL: float = 3600.0, authFailureDelay: float = 2.0,
                 authFailureDelayMax: float = 15.0, maxAuthFailures: int = 3,
                 specialUse: dict[str, str] | None = None,
                 notifyMaxMailboxes: int = 100):
        if reactor is None:
            from twisted.internet import reactor
        if plaintextAuth not in PLAINTEXT_AUTH:
            raise ValueError(f"plaintextAuth must be one of {', '.join(PLAINTEXT_AUTH)}")
        self.backend = backend
        self.clock = reactor
        self.idleKeepalive = idleKeepalive
        self.autologout = max(autologout, MIN_AUTOLOGOUT)
        self.appendLimit = appendLimit
        self.maxLiteral = maxLiteral
        self.maxLineLength = maxLineLength
        self.preloginLiteral = preloginLiteral
        self.outputBound = outputBound
        self.tlsContext = tlsContext
        self.plaintextAuth = plaintextAuth
        self.preloginTimeout = preloginTimeout
        self.maxAuthFailures = maxAuthFailures
        self.limits = Limits(reactor, maxPerIP=maxConnectionsPerIP,
                             maxUserIP=maxUserIPConnections, trustedNetworks=trustedNetworks,
                             failureDelay=authFailureDelay,
                             failureDelayMax=authFailureDelayMax)
        self.authThreads = AuthThreads(authThreads)
        self.credentials = CredentialsCache(backend, reactor, authCacheTTL)
        self.structures = StructureCache()
        self.specialUseNames = SpecialUseNames(specialUse)
        # NOTIFY (RFC 5465): the mailboxes watched for sessions, and how many one may watch.
        self.notifyWatches = WatchRegistry()
        self.notifyMaxMailboxes = notifyMaxMailboxes
        self.refusals = sessionlog.RefusalLog(reactor)
        self.sessions: set[IMAPServerProtocol] = set()
        self.prelogin: set[IMAPServerProtocol] = set()  # not logged in yet
        if sweepInterval is None:
            sweepInterval = min(idleKeepalive or 60.0, 60.0)
        self.sweepInterval = sweepInterval
        self._sweepers: list[task.LoopingCall] = []
        self._appendLimit = b" APPENDLIMIT=%d" % appendLimit
        base = _BASE_CAPABILITIES + backendCapabilities(backend)
        self._preAuth = base  # and what logging in needs, per session
        self._postAuth = base + self._appendLimit

    def capabilities(self, session) -> bytes:
        if session.state != NOT_AUTHENTICATED:
            if ISpecialUseAccount.providedBy(session.account):
                return self._postAuth + b" CREATE-SPECIAL-USE"  # RFC 6154 3
            return self._postAuth
        # Where plaintext logins are refused: LOGINDISABLED and no AUTH= (RFC 3501
        # 6.2.3, 7.2.1). STARTTLS is offered only until TLS is on (RFC 3501 6.2.1).
        auth = b" AUTH=PLAIN" if self.plaintextAllowed(session) else b" LOGINDISABLED"
        if self.tlsContext is not None and not session.tlsActive:
            auth += b" STARTTLS"
        return self._preAuth + auth + self._appendLimit

    def plaintextAllowed(self, session) -> bool:
        """May this session send a password (LOGIN, AUTHENTICATE PLAIN) now?"""
        if session.tlsActive or self.plaintextAuth == "always":
            return True
        return self.plaintextAuth == "loopback" and isLoopback(session.peer[0])

    # --- sessions ------------------------------------------------------------------
    def sessionStarted(self, session) -> bool:
        """Admit a new connection (False: its address has too many already)."""
        host = session.peer[0]
        if not self.limits.connect(host):
            self.refusals.refused(host, "too many connections from this address")
            return False
        self.sessions.add(session)
        self.prelogin.add(session)
        return True

    def sessionEnded(self, session) -> None:
        if session not in self.sessions:
            return  # refused at connect
        self.sessions.discard(session)
        self.prelogin.discard(session)
        host = session.peer[0]
        self.limits.disconnect(host)
        if session.user is not None:
            self.limits.removeUser(session.user, host)
            sessionlog.loggedOut(session, self.clock.seconds() - session.loginAt)

    # --- timers ----------------------------------------------------------------------
    def startFactory(self) -> None:
        self.authThreads.start()
        if not self._sweepers:
            # The pre-login timeout is checked four times per its length (at most 15 s).
            prelogin = max(0.05, min(self.preloginTimeout / 4, 15.0))
            for fn, interval in ((self.sweep, self.sweepInterval),
                                 (self.sweepPrelogin, prelogin)):
                loop = task.LoopingCall(fn)
                loop.clock = self.clock
                loop.start(interval, now=False)
                self._sweepers.append(loop)

    def stopFactory(self) -> None:
        for loop in self._sweepers:
            if loop.running:
                loop.stop()
        self._sweepers = []
        self.authThreads.stop()

    def sweep(self) -> None:
        """Send IDLE keepalives that are due; log out sessions silent too long."""
        now = self.clock.seconds()
        for session in list(self.sessions):
            if now - session.lastHeard >= self.autologout:
                session.bye(b"Autologout; idle for too long")
            elif (self.idleKeepalive and session.idlingSince is not None
                  and now - session.lastKeepalive >= self.idleKeepalive):
                # Keeps NAT and firewall state alive while nothing else is said.
                session.lastKeepalive = now
                session.sendLine(b"* OK Still here")
        self.limits.sweep()

    def sweepPrelogin(self) -> None:
        """Close connections that have not logged in within C{preloginTimeout}."""
        if not self.preloginTimeout:
            return
        cutoff = self.clock.seconds() - self.preloginTimeout
        for session in [s for s in self.prelogin if s.connectedAt <= cutoff]:
            self.prelogin.discard(session)
            session.bye(b"Timed out waiting for a login")
