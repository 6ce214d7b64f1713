"""
The server factory: shared settings, the set of live sessions, and one sweep timer
for IDLE keepalives and autologout (one timer for all sessions, not one each, so an
idle connection costs a few hundred bytes, not a DelayedCall).
"""

from __future__ import annotations

from twisted.internet import task
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from idlemail.server.protocol import IMAPServerProtocol
from idlemail.server.registry import NOT_AUTHENTICATED

#: RFC 3501 5.4: an autologout timer must be at least 30 minutes.
MIN_AUTOLOGOUT = 30 * 60.0
_BASE_CAPABILITIES = (b"IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE UNSELECT ID "
                      b"NAMESPACE CHILDREN ENABLE")


class IMAPServerFactory(ServerFactory):
    protocol = IMAPServerProtocol
    noisy = False  # no "Starting factory <...0x7f...>" line in the log
    log = Logger()

    def __init__(self, backend, reactor=None, *, idleKeepalive: float = 120.0,
                 autologout: float = MIN_AUTOLOGOUT, appendLimit: int = 50 * 1024 * 1024,
                 maxLiteral: int = 64 * 1024, maxLineLength: int = 64 * 1024,
                 tlsContext=None, sweepInterval: float | None = None):
        if reactor is None:
            from twisted.internet import reactor
        self.backend = backend
        self.clock = reactor
        self.idleKeepalive = idleKeepalive
        self.autologout = max(autologout, MIN_AUTOLOGOUT)
        self.appendLimit = appendLimit
        self.maxLiteral = maxLiteral
        self.maxLineLength = maxLineLength
        self.tlsContext = tlsContext
        self.sessions: set[IMAPServerProtocol] = set()
        if sweepInterval is None:
            sweepInterval = min(idleKeepalive or 60.0, 60.0)
        self.sweepInterval = sweepInterval
        self._sweeper: task.LoopingCall | None = None
        limit = b" APPENDLIMIT=%d" % appendLimit
        self._preAuth = _BASE_CAPABILITIES + b" AUTH=PLAIN" + limit
        # RFC 3501 6.2.1: STARTTLS is offered only until TLS is on.
        self._preTLS = _BASE_CAPABILITIES + b" AUTH=PLAIN STARTTLS" + limit
        self._postAuth = _BASE_CAPABILITIES + limit

    def capabilities(self, session) -> bytes:
        if session.state != NOT_AUTHENTICATED:
            return self._postAuth
        if self.tlsContext is not None and not session.tlsActive:
            return self._preTLS
        return self._preAuth

    def startFactory(self) -> None:
        if self._sweeper is None:
            self._sweeper = task.LoopingCall(self.sweep)
            self._sweeper.clock = self.clock
            self._sweeper.start(self.sweepInterval, now=False)

    def stopFactory(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None

    def sweep(self) -> None:
        """Send IDLE keepalives that are due; log out sessions silent too long."""
        now = self.clock.seconds()
        for session in list(self.sessions):
            if now - session.lastHeard >= self.autologout:
                session.sendLine(b"* BYE Autologout; idle for too long")
                session.transport.loseConnection()
            elif (self.idleKeepalive and session.idlingSince is not None
                  and now - session.lastKeepalive >= self.idleKeepalive):
                # Keeps NAT and firewall state alive while nothing else is said.
                session.lastKeepalive = now
                session.sendLine(b"* OK Still here")
