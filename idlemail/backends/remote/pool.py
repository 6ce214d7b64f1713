"""
The command connections of one upstream user: at most C{maxConnections} at once, of which
C{keepConnections} are kept when idle, each closed after C{connectionIdleTimeout} unused.

Local sessions of the user share them: a command takes a connection, selects its mailbox
there if another one is selected, runs, and gives the connection back. A connection that
timed out or failed mid-command is closed (its state is unknown), never given out again.

A server such as Dovecot brings a connection's view of its mailbox up to date only as a
command ends: a message appended on another connection is not there to STORE, FETCH or
COPY until then. So a connection whose view may predate a message local sessions were
told of asks first (NOOP).
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from idlemail.backends.remote.upstream import noSuchMailbox, refusal, unavailable
from idlemail.client.login import deadline
from idlemail.client.protocol import IMAPCommandError
from idlemail.errors import IMAPError


class ValidityChanged(IMAPError):
    """The mailbox's UIDVALIDITY upstream is not the one local sessions were told."""

    def __init__(self, name: str):
        super().__init__(f"{name} was replaced upstream (its UIDVALIDITY changed); "
                         f"select it again", "UNAVAILABLE")


class PooledSession:
    """One command connection, and the mailbox it has selected."""

    def __init__(self, proto):
        self.proto = proto
        self.selected: str | None = None
        # The newest UID published locally before the selected mailbox's view here was
        # last brought up to date (by a command that began after it was published).
        self.viewHas = 0
        self.timer = None
        self.counted = True

    @property
    def capabilities(self) -> frozenset:
        return self.proto.capabilities

    async def select(self, name: str, uidValidity: int | None, timeout: float, clock,
                     published: int = 0):
        """SELECT C{name} here unless it is selected already (None); refuse a changed
        UIDVALIDITY. Returns what the SELECT said (the client's C{MailboxState}).
        C{published}: the newest UID local sessions were told of; a view of C{name}
        here that may lack it is brought up to date first."""
        if self.selected == name:
            if self.viewHas < published:
                await deadline(self.proto.sendCommand("NOOP"), timeout, clock)
                self.viewHas = published
            return None
        self.selected = None
        try:
            state = await deadline(self.proto.select(name), timeout, clock)
        except IMAPCommandError as e:
            raise noSuchMailbox(e, name)
        if uidValidity is not None and state.uidvalidity != uidValidity:
            raise ValidityChanged(name)
        self.selected, self.viewHas = name, published
        return state

    def viewUpdated(self, published: int) -> None:
        """A command on the selected mailbox began after C{published} was: its end
        brought the view up to it."""
        self.viewHas = max(self.viewHas, published)


class UpstreamPool:
    log = Logger()

    def __init__(self, connect, settings, clock):
        self._connect = connect  # () -> Deferred / coroutine of a logged-in UpstreamProtocol
        self.settings = settings
        self.clock = clock
        self.idle: list[PooledSession] = []
        self.count = 0  # open or opening
        self._waiters: list[defer.Deferred] = []
        self.closed = False

    # --- taking and giving back ----------------------------------------------------
    async def run(self, work):
        """
        Run C{await work(session)} on a connection of this pool, within the command
        timeout. An upstream refusal becomes an L{IMAPError} in its words; a lost or
        silent upstream, C{NO [UNAVAILABLE]}.
        """
        session = await self._acquire()
        healthy = False
        try:
            result = await deadline(defer.ensureDeferred(work(session)),
                                    self.settings.commandTimeout, self.clock)
            healthy = True
            return result
        except IMAPCommandError as e:
            healthy = True  # refused, but the connection is fine
            raise refusal(e)
        except IMAPError:
            healthy = not session.proto.lost  # e.g. a refused SELECT: the connection is fine
            raise
        except Exception as e:
            raise unavailable(e, self.settings)
        finally:
            self._release(session, healthy)

    async def _acquire(self) -> PooledSession:
        while True:
            if self.closed:
                raise IMAPError("The server is shutting down", "UNAVAILABLE")
            while self.idle:
                session = self.idle.pop()
                self._cancelTimer(session)
                if not session.proto.lost:
                    return session
            if self.count < self.settings.maxConnections:
                self.count += 1
                try:
                    proto = await defer.ensureDeferred(self._connect())
                except BaseException:
                    self.count -= 1
                    self._wakeOne()
                    raise
                return self._adopt(proto)
            waiter = defer.Deferred()
            self._waiters.append(waiter)
            await waiter

    def _adopt(self, proto) -> PooledSession:
        session = PooledSession(proto)
        proto.lostHooks.append(lambda _: self._lost(session))
        return session

    def _release(self, session: PooledSession, healthy: bool) -> None:
        if not healthy or session.proto.lost or self.closed:
            session.proto.close()
            self._discard(session)
            return
        if len(self.idle) >= self.settings.keepConnections and not self._waiters:
            session.proto.logoutAndClose()
            self._discard(session)
            return
        self.idle.append(session)
        session.timer = self.clock.callLater(self.settings.connectionIdleTimeout,
                                             self._expire, session)
        self._wakeOne()

    def offer(self, proto) -> None:
        """A connection logged in for a local LOGIN: kept as an idle one if there is room."""
        if (self.closed or self.count >= self.settings.maxConnections
                or len(self.idle) >= self.settings.keepConnections):
            proto.logoutAndClose()
            return
        self.count += 1
        self._release(self._adopt(proto), True)

    # --- ending ----------------------------------------------------------------------
    def _expire(self, session: PooledSession) -> None:
        session.timer = None
        if session in self.idle:
            self.idle.remove(session)
            session.proto.logoutAndClose()
            self._discard(session)

    def _lost(self, session: PooledSession) -> None:
        if session in self.idle:
            self.idle.remove(session)
        self._cancelTimer(session)
        self._discard(session)

    def _discard(self, session: PooledSession) -> None:
        if session.counted:
            session.counted = False
            self.count -= 1
            self._wakeOne()

    def _wakeOne(self) -> None:
        if self._waiters:
            self._waiters.pop(0).callback(None)

    @staticmethod
    def _cancelTimer(session: PooledSession) -> None:
        timer, session.timer = session.timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def forgetSelected(self, names) -> None:
        """
        Mailboxes deleted or renamed: an idle connection that has one selected is closed
        now. Dovecot disconnects such a connection in its own time ("Selected mailbox
        was deleted"), so a command sent on it meanwhile (a CREATE right after the
        DELETE) would be lost with it.
        """
        for session in list(self.idle):
            if session.selected in names:
                self.idle.remove(session)
                self._cancelTimer(session)
                session.proto.close()
                self._discard(session)

    def close(self) -> None:
        self.closed = True
        for session in list(self.idle):
            self._cancelTimer(session)
            session.proto.logoutAndClose()
            self._discard(session)
        self.idle = []
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)  # they find the pool closed
