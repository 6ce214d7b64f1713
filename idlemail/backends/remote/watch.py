"""
MailboxWatch: the one upstream connection that follows a mailbox for every local session
of it, whatever their number.

Its connection life is Twisted's L{ClientService}: connect, C{prepareConnection} (login,
EXAMINE, list every message by UID with its flags), and after a loss, connect again after a
jittered exponential backoff. The listing after a reconnect resynchronises the mailbox in
one pass (L{MailboxState.resync}); a changed UIDVALIDITY ends the local sessions of the old
view (L{MailboxState.reset}) rather than serve wrong UIDs.

Between syncs it follows the mailbox with the client's L{UidFollower}: IDLE where the
upstream advertises it (re-issued every C{reidle} by a NOOP, which also checks the
upstream is alive), else a NOOP every C{pollInterval}, whose answer carries what changed.
New messages are fetched by UID (C{UID FETCH n:* (UID FLAGS)}, n above the newest UID
published, not the newest the follower knows: a SEARCH names messages without their
flags, and a server such as Dovecot answers a FETCH from its view before it catches up)
and published together, in UID order, none skipped.
"""

from __future__ import annotations

import random
from bisect import bisect_right

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, task
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from idlemail.backends.remote.state import Inconsistent, MailboxState
from idlemail.backends.remote.upstream import (
    UpstreamProtocol,
    noSuchMailbox,
    refusal,
    unavailable,
)
from idlemail.client.commands import uidSet
from idlemail.client.failures import describe
from idlemail.client.follower import UidFollower
from idlemail.client.login import deadline, endpointFor, openSession
from idlemail.client.protocol import IMAPCommandError
from idlemail.errors import IMAPError, NoSuchMailbox
from idlemail.wire import response as R


class _ClientService(ClientService):
    """ClientService without its own retry line: the watch logs one with the reason."""

    _log = Logger(observer=lambda event: None)


class _Factory(Factory):
    noisy = False

    def __init__(self, watch):
        self.watch = watch

    def buildProtocol(self, addr):
        proto = UpstreamProtocol(self.watch.settings.maxLiteralSize)
        proto.factory = self
        self.watch._connected(proto)
        return proto


class _Endpoint:
    """The upstream endpoint, built at each attempt, whose failures the watch hears of."""

    def __init__(self, watch):
        self.watch = watch

    def connect(self, factory):
        w = self.watch
        try:
            d = endpointFor(w.reactor, w.user.loginSettings()).connect(factory)
        except Exception as e:
            d = defer.fail(e)
        d = deadline(d, w.settings.commandTimeout, w.reactor)
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        if not self.watch.stopped:
            self.watch._attemptFailed(unavailable(failure.value, self.watch.settings))
        return failure

    def __repr__(self) -> str:
        return self.watch.settings.address


class MailboxWatch:
    log = Logger()

    def __init__(self, user, name: str, settings, reactor, rng=random.random):
        self.user, self.name, self.settings, self.reactor = user, name, settings, reactor
        self.rng = rng
        self.state: MailboxState | None = None
        self.up = False
        self.everUp = False
        self.stopped = False
        self.lastReason: str | None = None
        self.capabilities: frozenset = frozenset()
        self.connections = 0  # connections that got as far as following the mailbox
        self.handles = 0  # open local mailboxes on it
        self._proto: UpstreamProtocol | None = None
        self._follower: UidFollower | None = None
        self._listing: dict | None = None  # while syncing: uid -> flags as listed
        self._batch: list | None = None  # while fetching new mail: (uid, flags) found
        self._mailWaiting = False
        self._fetching = self._fetchAgain = False
        self._ready: list[defer.Deferred] = []
        self._service: _ClientService | None = None
        self._timer: task.LoopingCall | None = None
        self._linger = None
        self._backoff = backoffPolicy(settings.backoffInitial, settings.backoffMax,
                                      factor=2.0, jitter=lambda: 0.0)

    # --- life -------------------------------------------------------------------------
    def start(self) -> None:
        self._service = _ClientService(_Endpoint(self), _Factory(self),
                                       retryPolicy=self._retryDelay, clock=self.reactor,
                                       prepareConnection=self._prepare)
        self._service.startService()

    def stop(self) -> defer.Deferred:
        self.stopped, self.up = True, False
        self._cancelLinger()
        self._stopTimer()
        self._failWaiters(IMAPError("The mailbox is no longer watched", "UNAVAILABLE"))
        service, self._service = self._service, None
        if service is None:
            return defer.succeed(None)
        return service.stopService()

    def whenReady(self) -> defer.Deferred:
        """Fires with the L{MailboxState} once the mailbox is followed; fails with
        C{NO [UNAVAILABLE]} while the upstream is down, or as the upstream refused."""
        if self.up:
            return defer.succeed(self.state)
        if self.everUp or self.stopped:
            return defer.fail(IMAPError(
                f"The upstream server is unavailable ({self.lastReason or 'reconnecting'}); "
                f"try again later", "UNAVAILABLE"))
        d = defer.Deferred()
        self._ready.append(d)
        return d

    def acquire(self) -> None:
        self.handles += 1
        self._cancelLinger()

    def release(self) -> None:
        self.handles -= 1
        if self.handles <= 0 and not self.stopped:
            self._cancelLinger()
            self._linger = self.reactor.callLater(self.settings.watchLinger, self._unwatched)

    def _unwatched(self) -> None:
        self._linger = None
        if self.handles <= 0:
            self.user.dropWatch(self)

    def _cancelLinger(self) -> None:
        linger, self._linger = self._linger, None
        if linger is not None and linger.active():
            linger.cancel()

    def reconnect(self) -> None:
        """The mailbox may have been replaced upstream: follow it anew from a fresh listing."""
        if self._proto is not None:
            self._proto.close()

    def poke(self) -> None:
        """Something changed upstream that the proxy could not publish itself: look now."""
        if self.up:
            self.fetchNew()

    # --- one connection: prepare ---------------------------------------------------------
    def _connected(self, proto: UpstreamProtocol) -> None:
        self._proto = proto
        proto.onUntagged = self._untagged
        proto.lostHooks.append(self._lost)

    def _prepare(self, proxy) -> defer.Deferred:
        proto = self._proto
        d = defer.ensureDeferred(self._sync(proto))

        def failed(failure):
            if not self.stopped:
                error = failure.value
                if isinstance(error, IMAPCommandError):
                    error = refusal(error)
                elif not isinstance(error, IMAPError):
                    error = unavailable(error, self.settings)
                self._attemptFailed(error)
            # ClientService (Twisted 26.10) neither closes a connection whose preparation
            # failed nor has a transition for hearing that it closed: close it here,
            # without telling it.
            proxy._lostNotification = lambda reason: None
            proto.close()
            return failure
        return d.addErrback(failed)

    async def _sync(self, proto: UpstreamProtocol) -> None:
        s = self.settings
        self.capabilities = await openSession(proto, self.user.loginSettings(), self.reactor,
                                              s.commandTimeout)
        try:
            selected = await deadline(proto.select(self.name, readonly=True),
                                      s.commandTimeout, self.reactor)
        except IMAPCommandError as e:
            raise noSuchMailbox(e, self.name)
        follower = self._follower = UidFollower(self)
        self._listing, self._mailWaiting = {}, False
        follower.start(selected.exists)
        if selected.exists:
            await self._command("UID FETCH", b"1:*", b"(UID FLAGS)")
        horizon = await self._listLate(selected)
        if follower.misplaced or follower.unknown:
            # A server that numbers oddly: its UID list decides what exists.
            follower.expectAll()
            await self._command("UID SEARCH", b"ALL")
            unlisted = [uid for uid in follower.uids if uid not in self._listing]
            if unlisted:
                await self._command("UID FETCH", uidSet(unlisted), b"(UID FLAGS)")
            for uid in [u for u in self._listing if u not in follower]:
                del self._listing[uid]
            follower.settle()
        listing, self._listing = self._listing, None
        self._apply(selected, listing, horizon)
        self._follow(proto)

    async def _listLate(self, selected) -> int:
        """
        The listing answers the SELECT's view: complete below its UIDNEXT. Messages the
        proxy published at or above it (appended meanwhile) are asked for again once
        the upstream has caught up (a NOOP begun after they were published); those it
        does not show then are gone. Returns the UID below which the listing is whole.
        """
        horizon, old = selected.uidnext or 0, self.state
        late = []
        if old is not None and old.resetReason is None and \
                old.uidValidity == (selected.uidvalidity or 1):
            late = old.unlisted(self._listing, horizon)
        if late:
            await self._command("NOOP")
            await self._command("UID FETCH", uidSet(late), b"(UID FLAGS)")
            horizon = max(horizon, late[-1] + 1)
        return horizon

    def _apply(self, selected, listing: dict, horizon: int) -> None:
        old, reason = self.state, None
        validity = selected.uidvalidity or 1
        if old is not None and old.resetReason is None:
            if old.uidValidity == validity:
                try:
                    old.resync(listing, horizon)
                    return
                except Inconsistent as e:
                    reason = f"{self.name} changed upstream in a way that cannot be followed ({e})"
            else:
                reason = (f"{self.name} was replaced upstream (UIDVALIDITY {old.uidValidity} "
                          f"is now {validity}); select it again")
            self.log.warn("{user}/{name}: {reason}", user=self.user.username, name=self.name,
                          reason=reason)
            old.reset(reason)
        self.state = MailboxState(self.name, validity, selected.uidnext, listing,
                                  selected.permanentflags, selected.flags)

    def _follow(self, proto: UpstreamProtocol) -> None:
        s = self.settings
        wasDown = self.everUp and not self.up
        self.up = self.everUp = True
        self.connections += 1
        idle = "IDLE" in self.capabilities
        self._timer = task.LoopingCall(self._probe)
        self._timer.clock = self.reactor
        self._timer.start(s.reidle if idle else s.pollInterval, now=False)
        if idle:
            proto.idle().addErrback(self._idleRefused)
        how = "IDLE" if idle else f"polling every {s.pollInterval:g} s"
        self.log.info("{user}/{name}: following upstream ({how}){back}", user=self.user.username,
                      name=self.name, how=how, back=" again" if wasDown else "")
        # Openers go on once ClientService has the connection as prepared (a stop from
        # within the preparation would leave it open behind ClientService's back).
        self.reactor.callLater(0, self._announce)
        if self._mailWaiting:
            self.fetchNew()

    def _announce(self) -> None:
        if self.up:
            waiters, self._ready = self._ready, []
            for d in waiters:
                d.callback(self.state)

    def _idleRefused(self, failure) -> None:
        if failure.check(IMAPCommandError) and self._timer is not None:
            # Advertised but refused: poll instead, as for a server without IDLE.
            self.capabilities = self.capabilities - {"IDLE"}
            self._stopTimer()
            self._timer = task.LoopingCall(self._probe)
            self._timer.clock = self.reactor
            self._timer.start(self.settings.pollInterval, now=False)

    # --- failures ---------------------------------------------------------------------
    def _attemptFailed(self, error: IMAPError) -> None:
        self.lastReason = str(error)
        if not self.everUp:
            # Nobody follows this mailbox yet: the SELECT that asked for it says why.
            self._failWaiters(error)
            self.reactor.callLater(0, self.user.dropWatch, self)
        elif isinstance(error, NoSuchMailbox):
            self.state.reset(f"{self.name} no longer exists upstream")
            self.reactor.callLater(0, self.user.dropWatch, self)
        else:
            self.log.info("{user}/{name}: {reason}", user=self.user.username, name=self.name,
                          reason=self.lastReason)

    def _failWaiters(self, error: Exception) -> None:
        waiters, self._ready = self._ready, []
        for d in waiters:
            d.errback(error)

    def _lost(self, proto: UpstreamProtocol) -> None:
        if proto is not self._proto:
            return
        self._proto = self._follower = None
        self._stopTimer()
        if self.up:
            self.up = False
            reason = proto.closeReason or "the connection closed"
            self.lastReason = f"lost {self.settings.address}: {reason}"
            if not self.stopped:
                self.log.warn("{user}/{name}: {reason}; reconnecting", user=self.user.username,
                              name=self.name, reason=self.lastReason)

    def _retryDelay(self, attempt: int) -> float:
        return self._backoff(attempt) * (0.5 + self.rng())  # reconnect storms stay spread

    def _stopTimer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.running:
            timer.stop()

    # --- the follower's callbacks ------------------------------------------------------
    def _untagged(self, response) -> None:
        if isinstance(response, R.Status) and response.status == "BYE":
            self.lastReason = f"{self.settings.address} said BYE: {response.text}"
        if self._follower is not None:
            self._follower.handle(response)

    def grew(self, unknown: int) -> None:
        if self._listing is not None:
            self._mailWaiting = True  # the listing's own fetch, or the one after, takes it
        else:
            self.fetchNew()

    def added(self, uid: int, items: dict) -> None:
        flags = items.get("FLAGS", ())
        if self._listing is not None:
            self._listing[uid] = flags
        else:
            self._named(uid, flags)

    def changed(self, uid: int, items: dict) -> None:
        flags = items.get("FLAGS")
        if flags is None:
            return
        if self._listing is not None:
            self._listing[uid] = flags
        else:
            self._named(uid, flags)

    def _named(self, uid: int, flags) -> None:
        """A FETCH named C{uid} with its flags. Whether it is new is the state's to say
        (the follower may know it from a SEARCH alone, unpublished)."""
        state = self.state
        if uid in state.flags:
            self._publish(state.echo, {uid: flags})
        elif uid <= state.highest:
            self._publish(state.added, [(uid, flags)])  # expunged here, or inconsistent
        elif self._batch is not None:
            self._batch.append((uid, flags))
        else:
            self.fetchNew()  # published by the fetch, with whatever else is new below it

    def expunged(self, uid: int) -> None:
        if self._listing is not None:
            self._listing.pop(uid, None)
            return
        if self._batch:  # named by the fetch in progress, and gone already
            self._batch = [(u, flags) for u, flags in self._batch if u != uid]
        self._publish(lambda uids: self.state.expunged(uids, upstreamSaid=True), [uid])

    def _publish(self, change, argument) -> None:
        try:
            change(argument)
        except Inconsistent as e:
            # Sessions must not keep a view the upstream no longer matches: end them, and
            # start over with a fresh listing.
            self.state.reset(f"{self.name} changed upstream in a way that cannot be "
                             f"followed ({e}); select it again")
            if self._proto is not None:
                self._proto.close()

    # --- new mail ------------------------------------------------------------------------
    def fetchNew(self) -> None:
        if self._fetching:
            self._fetchAgain = True
        else:
            self._spawn(self._fetchLoop())

    async def _fetchLoop(self) -> None:
        self._fetching = True
        try:
            self._fetchAgain = True
            while self._fetchAgain and self._follower is not None:
                self._fetchAgain = False
                follower = self._follower
                await self._fetchPublishing(b"%d:*" % (self.state.highest + 1))
                if follower.unknown > 0 or follower.misplaced:
                    follower.expectTail()
                    await self._command("UID SEARCH", b"UID %d:*" % (follower.lastUid + 1))
                    follower.settle()
                # Named by the SEARCH only, or by a FETCH answered before the server's
                # view caught up with its own count: their flags, and so their news.
                unpublished = follower.uids[bisect_right(follower.uids, self.state.highest):]
                if unpublished:
                    await self._fetchPublishing(uidSet(unpublished))
                if not follower.unknown and not follower.misplaced:
                    self.state.forgetGone(follower.__contains__, follower.lastUid)
        finally:
            self._fetching = False

    async def _fetchPublishing(self, uids: bytes) -> None:
        """UID FETCH (UID FLAGS) of C{uids}; what is new in the answer is published as
        one change once it is whole (in UID order, none missing below)."""
        self._batch = []
        try:
            await self._command("UID FETCH", uids, b"(UID FLAGS)")
        finally:
            batch, self._batch = self._batch, None
            if batch:
                self._publish(self.state.added, batch)

    def recheck(self, uids) -> None:
        """Ask for these messages' flags now; the answers are published as they differ."""
        if self.up and uids:
            self._spawn(self._command("UID FETCH", uidSet(uids), b"(UID FLAGS)"))

    def _probe(self) -> None:
        """NOOP: ends and resumes IDLE (the re-IDLE), or polls; no answer -> reconnect."""
        self._spawn(self._command("NOOP"))

    def _spawn(self, work) -> defer.Deferred:
        d = defer.ensureDeferred(work)
        d.addErrback(self._taskFailed)
        return d

    def _taskFailed(self, failure) -> None:
        proto = self._proto
        if proto is None or self.stopped:
            return
        self.log.warn("{user}/{name}: {reason}; reconnecting", user=self.user.username,
                      name=self.name, reason=describe(failure, self.settings.address))
        proto.close()

    def _command(self, name: str, *args) -> defer.Deferred:
        proto = self._proto
        if proto is None:
            return defer.fail(IMAPError("not connected", "UNAVAILABLE"))
        return deadline(proto.sendCommand(name, *args), self.settings.commandTimeout,
                        self.reactor)

