"""
MailboxWatcher: one connection that watches one mailbox of one account, forever.

Its life is a loop over named states (C{self.state}):

    connecting -> authenticating -> syncing -> idling | polling -> backoff -> connecting ...

- connecting: open the endpoint (TLS verified unless the config says plaintext), STARTTLS
  if asked, CAPABILITY.
- authenticating: LOGIN / AUTHENTICATE PLAIN / XOAUTH2. A refusal is reported as
  C{account.auth_failed} and retried slowly (C{authRetry}), never given up.
- syncing: SELECT or EXAMINE, UID SEARCH ALL, then compare with the cursor: what arrived
  while down is reported once, what vanished is reported expunged, a new UIDVALIDITY is
  one C{uidvalidity.reset}.
- idling: IDLE when the server advertises it (RFC 2177 forbids it otherwise), re-issued
  every C{reidle}; an EXISTS ends it (DONE) to fetch the new messages' UIDs and headers.
  Liveness: no byte for C{keepaliveTimeout} -> DONE and NOOP with a deadline -> reconnect.
- polling: NOOP every C{pollInterval} when IDLE is not offered.
- backoff: jittered exponential delay up to C{backoffMax}, then connect again.

The clock is injected (C{reactor}), so every timer can be driven by a test clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from idlemail.client.cursor import Cursor, CursorStore
from idlemail.client.endpoints import clientEndpoint, tlsOptions
from idlemail.client.events import (
    ACCOUNT_AUTH_FAILED,
    ACCOUNT_DOWN,
    ACCOUNT_UP,
    FLAGS_CHANGED,
    MESSAGE_EXPUNGED,
    MESSAGE_NEW,
    UIDVALIDITY_RESET,
    WatchEvent,
)
from idlemail.client.protocol import IMAPClientProtocol, IMAPCommandError
from idlemail.wire import response as R

_TEMPORARY = ("UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE", "EXPUNGEISSUED")
HEADER_FIELDS = ("FROM", "SUBJECT", "DATE", "MESSAGE-ID")
_HEADER_ITEMS = "(UID FLAGS BODY.PEEK[HEADER.FIELDS (%s)])" % " ".join(HEADER_FIELDS)


@dataclass(frozen=True)
class WatchSettings:
    """What one watcher needs to know of its account (built from the notifier config)."""

    account: str
    server: str  # a Twisted client endpoint string: tls:host:993, tcp:host:143
    username: str
    password: object  # a str, or a callable returning one (password_command)
    mailbox: str = "INBOX"
    auth: str = "login"  # login | plain | xoauth2
    starttls: bool = False
    plaintext: bool = False
    caFile: str | None = None
    insecureSkipVerify: bool = False
    readonly: bool = True
    reidle: float = 600.0
    keepaliveTimeout: float = 300.0
    commandTimeout: float = 60.0
    pollInterval: float = 60.0
    backoffInitial: float = 1.0
    backoffMax: float = 300.0
    authRetry: float = 300.0
    wantsHeaders: bool = True


class AuthenticationFailed(Exception):
    pass


class ConnectionDead(Exception):
    pass


class _WatchedProtocol(IMAPClientProtocol):
    """Remembers when it last heard anything: the watcher's liveness signal."""

    clock = None
    lastReceived = 0.0

    def dataReceived(self, data):
        self.lastReceived = self.clock.seconds()
        return super().dataReceived(data)


def _headers(raw: bytes) -> dict[str, str]:
    out = {}
    message = BytesHeaderParser().parsebytes(raw)
    for name in HEADER_FIELDS:
        value = message.get(name.lower())
        if value is None:
            continue
        try:
            text = str(make_header(decode_header(str(value))))
        except Exception:
            text = str(value)
        out[name.lower()] = " ".join(text.split())
    return out


def _headerBytes(items: dict) -> bytes | None:
    for key, value in items.items():
        if str(key).upper().startswith("BODY[") and isinstance(value, (bytes, bytearray)):
            return bytes(value)
    return None


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
        self.failures = 0
        self.connections = 0  # how many sessions reached "up": for tests and doctor
        self.capabilities: frozenset = frozenset()
        self._proto: _WatchedProtocol | None = None
        self._loop: defer.Deferred | None = None
        self._sleeping: defer.Deferred | None = None
        self._connecting: defer.Deferred | None = None
        self._wakeup: defer.Deferred | None = None
        self._uids: list[int | None] = []
        self._fetching = False
        self._newPending = False
        self._byeReason: str | None = None
        self._uidvalidity: int | None = None

    # --- service ------------------------------------------------------------------
    def startService(self):
        super().startService()
        self._loop = defer.ensureDeferred(self._run())
        self._loop.addErrback(lambda f: self.log.failure("Watcher crashed", f))

    def stopService(self):
        super().stopService()
        for pending in (self._sleeping, self._connecting):
            if pending is not None and not pending.called:
                pending.cancel()
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.abortConnection()
        loop, self._loop = self._loop, None
        return loop if loop is not None else defer.succeed(None)

    # --- the loop -----------------------------------------------------------------
    def _event(self, name: str, **fields) -> WatchEvent:
        event = WatchEvent(name, self.settings.account, self.settings.mailbox, **fields)
        self.emit(event)
        return event

    async def _run(self) -> None:
        s = self.settings
        while self.running:
            delay, reason = None, "connection closed"
            reachedUp = False
            try:
                await self._session()
            except AuthenticationFailed as e:
                reason = f"authentication failed: {e}"
                self._event(ACCOUNT_AUTH_FAILED, reason=str(e))
                delay = s.authRetry
            except defer.CancelledError:
                reason = "stopped" if not self.running else "timed out"
            except Exception as e:  # every failure means: reconnect, later
                reason = self._byeReason or f"{e.__class__.__name__}: {e}"
            finally:
                reachedUp = self.up
                self._drop()
            if reachedUp:
                self.up = False
                self._event(ACCOUNT_DOWN, uidvalidity=self._uidvalidity, reason=reason)
            if not self.running:
                break
            self.failures = 0 if reachedUp else self.failures + 1
            if delay is None:
                base = min(s.backoffMax, s.backoffInitial * (2 ** max(self.failures - 1, 0)))
                delay = base * (0.5 + self.rng())  # jitter: reconnect storms stay spread
            self.log.info("{account}/{mailbox}: {reason}; reconnecting in {delay:.1f} s",
                          account=s.account, mailbox=s.mailbox, reason=reason, delay=delay)
            self.state = "backoff"
            try:
                await self._sleep(delay)
            except defer.CancelledError:
                break
        self.state = "stopped"

    def _sleep(self, seconds: float) -> defer.Deferred:
        self._sleeping = task.deferLater(self.reactor, seconds, lambda: None)
        return self._sleeping

    def _drop(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.abortConnection()

    def _deadline(self, d: defer.Deferred, seconds: float | None = None) -> defer.Deferred:
        return d.addTimeout(seconds or self.settings.commandTimeout, self.reactor)

    async def _session(self) -> None:
        s = self.settings
        self.state = "connecting"
        self._byeReason = None
        factory = Factory.forProtocol(_WatchedProtocol)
        factory.noisy = False  # no "Starting factory <...0x7f...>" line per connection
        endpoint = clientEndpoint(self.reactor, s.server, caFile=s.caFile,
                                  insecure=s.insecureSkipVerify)
        self._connecting = self._deadline(endpoint.connect(factory))
        try:
            proto = await self._connecting
        finally:
            self._connecting = None
        proto.clock = self.reactor
        proto.lastReceived = self.reactor.seconds()
        self._proto = proto
        proto.onUntagged = self._untagged
        proto.onConnectionLost = self._lost
        try:
            proto.transport.setTcpKeepAlive(True)
        except (AttributeError, OSError):
            pass
        await self._deadline(proto.greeted)
        caps = await self._deadline(proto.capability())
        if s.starttls:
            if "STARTTLS" not in caps:
                raise ConnectionDead("the server does not offer STARTTLS")
            host = s.server.split(":")[1] if ":" in s.server else s.server
            await self._deadline(proto.starttls(tlsOptions(host, s.caFile,
                                                           s.insecureSkipVerify)))
            caps = await self._deadline(proto.capability())
        self.state = "authenticating"
        password = s.password() if callable(s.password) else s.password
        try:
            if s.auth == "plain":
                await self._deadline(proto.authenticatePlain(s.username, password))
            elif s.auth == "xoauth2":
                await self._deadline(proto.authenticateXOAUTH2(s.username, password))
            else:
                await self._deadline(proto.login(s.username, password))
        except IMAPCommandError as e:
            code = (e.tagged.code or ("",))[0]
            if code in _TEMPORARY:  # RFC 5530: the server's trouble, not our password
                raise ConnectionDead(f"login refused for now [{code}]: {e.tagged.text}")
            raise AuthenticationFailed(e.tagged.text or "refused")
        self.capabilities = caps = await self._deadline(proto.capability())
        self.state = "syncing"
        mailbox = await self._deadline(proto.select(s.mailbox, readonly=s.readonly))
        uids = await self._deadline(proto.uidSearch("ALL"))
        self._uids = sorted(uids)
        self._newPending = False
        await self._catchUp(proto, mailbox)
        self.up = True
        self.connections += 1
        self.failures = 0
        if "IDLE" not in caps:
            self.state = "polling"  # RFC 2177: never IDLE unless advertised
        self._event(ACCOUNT_UP, uidvalidity=self._uidvalidity)
        if "IDLE" in caps:
            await self._idleLoop(proto)
        else:
            await self._pollLoop(proto)

    # --- the cursor ---------------------------------------------------------------
    def _cursor(self) -> Cursor | None:
        return self.cursors.get(self.settings.account, self.settings.mailbox)

    def _saveCursor(self, highest: int) -> None:
        known = [u for u in self._uids if u is not None]
        self.cursors.put(self.settings.account, self.settings.mailbox,
                         Cursor(self._uidvalidity, highest, known))

    async def _catchUp(self, proto, mailbox) -> None:
        validity = mailbox.uidvalidity
        self._uidvalidity = validity
        cursor = self._cursor()
        known = [u for u in self._uids if u is not None]
        end = max(known[-1] if known else 0, (mailbox.uidnext or 1) - 1)
        if cursor is None or cursor.uidvalidity is None:
            self._saveCursor(end)  # first run: start at the mailbox's end, no flood
            return
        if cursor.uidvalidity != validity:
            self._event(UIDVALIDITY_RESET, uidvalidity=validity,
                        reason=f"UIDVALIDITY changed from {cursor.uidvalidity} to {validity}")
            self._saveCursor(end)
            return
        current = set(known)
        for uid in cursor.uids:
            if uid not in current and uid <= cursor.highest:
                self._event(MESSAGE_EXPUNGED, uidvalidity=validity, uid=uid)
        fresh = [u for u in known if u > cursor.highest]
        highest = cursor.highest
        if fresh:
            highest = await self._reportNew(proto, fresh[0], cursor.highest)
        self._saveCursor(max(highest, cursor.highest))

    async def _reportNew(self, proto, first: int, highest: int) -> int:
        """Fetch UIDs >= first (with headers if wanted), report those above highest."""
        items = _HEADER_ITEMS if self.settings.wantsHeaders else "(UID FLAGS)"
        self._fetching = True
        try:
            found = await self._deadline(proto.uidFetch(f"{first}:*", items))
        finally:
            self._fetching = False
        for uid in sorted(found):
            if uid <= highest:
                continue  # "n:*" names the last message even when it is older
            data = found[uid]
            raw = _headerBytes(data)
            flags = data.get("FLAGS")
            self._event(MESSAGE_NEW, uidvalidity=self._uidvalidity, uid=uid,
                        flags=tuple(flags) if flags is not None else None,
                        headers=_headers(raw) if raw else {})
            highest = uid
        # Remember at once: a connection lost right after must not report these again.
        self._saveCursor(highest)
        return highest

    # --- untagged responses, at once ----------------------------------------------
    def _untagged(self, response) -> None:
        if isinstance(response, R.Exists):
            if response.n > len(self._uids):
                self._uids.extend([None] * (response.n - len(self._uids)))
                self._newPending = True
                self._wake()
        elif isinstance(response, R.Expunge):
            if 1 <= response.seq <= len(self._uids):
                uid = self._uids.pop(response.seq - 1)
                if uid is not None and self.up:
                    self._event(MESSAGE_EXPUNGED, uidvalidity=self._uidvalidity, uid=uid)
                    cursor = self._cursor()
                    self._saveCursor(cursor.highest if cursor else uid)
        elif isinstance(response, R.Fetch):
            if self._fetching or not self.up:
                return
            flags = response.items.get("FLAGS")
            if flags is None:
                return
            uid = response.items.get("UID")
            if uid is None and 1 <= response.seq <= len(self._uids):
                uid = self._uids[response.seq - 1]
            if uid is not None:
                self._event(FLAGS_CHANGED, uidvalidity=self._uidvalidity, uid=uid,
                            flags=tuple(flags))
        elif isinstance(response, R.Status) and response.status == "BYE":
            self._byeReason = f"server said BYE: {response.text}"

    def _lost(self, reason) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.called:
            wakeup.errback(ConnectionDead("connection lost"))
            wakeup.addErrback(lambda f: None)  # told to whoever waited; no one else cares

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.called:
            wakeup.callback(None)

    async def _fetchPending(self, proto) -> None:
        if not self._newPending:
            return
        self._newPending = False
        cursor = self._cursor()
        highest = cursor.highest if cursor else 0
        newHighest = await self._reportNew(proto, highest + 1, highest)
        # Learn the new messages' places from the server rather than guess which of them
        # were expunged meanwhile; the events have already gone out.
        self._uids = sorted(await self._deadline(proto.uidSearch("ALL")))
        self._saveCursor(max(newHighest, highest))

    # --- idling and polling -------------------------------------------------------
    async def _idleLoop(self, proto) -> None:
        s = self.settings
        while self.running:
            await self._fetchPending(proto)
            self._wakeup = defer.Deferred()
            await self._deadline(proto.idle())
            self.state = "idling"
            reidleAt = self.reactor.seconds() + s.reidle
            while not self._newPending:
                now = self.reactor.seconds()
                silentFor = now - proto.lastReceived
                if silentFor >= s.keepaliveTimeout:
                    await self._deadline(proto.done(), s.commandTimeout)
                    await self._deadline(proto.noop(), s.commandTimeout)
                    break
                if now >= reidleAt:
                    break
                wait = min(reidleAt - now, s.keepaliveTimeout - silentFor)
                if self._wakeup is None or self._wakeup.called:
                    break
                timer = task.deferLater(self.reactor, wait, lambda: None)
                try:
                    woken = await defer.DeferredList([self._wakeup, timer],
                                                     fireOnOneCallback=True,
                                                     fireOnOneErrback=True, consumeErrors=True)
                finally:
                    if not timer.called:
                        timer.cancel()
                if isinstance(woken, tuple) and woken[1] == 0:  # new messages
                    break
            if proto.idling:
                await self._deadline(proto.done())
            self._wakeup = None

    async def _pollLoop(self, proto) -> None:
        s = self.settings
        self.state = "polling"
        while self.running:
            await self._fetchPending(proto)
            await self._sleep(s.pollInterval)
            await self._deadline(proto.noop())
