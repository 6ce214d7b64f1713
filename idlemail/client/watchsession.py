"""
WatchSession: one connection of a L{MailboxWatcher}, from its SELECT to its end, as a
declared state machine (automat):

    init --selected--> syncing --syncedToIdle--> idling  --closed--> closed
                               --syncedToPoll--> polling --closed--> closed

- syncing: what happened while away is reported once. With QRESYNC (RFC 7162) the SELECT
  itself answers (VANISHED (EARLIER), changed FLAGS); with CONDSTORE alone, C{UID FETCH
  (FLAGS) (CHANGEDSINCE m)} and a UID list; otherwise the UID list is compared with the
  cursor. Then new mail is fetched, and the watcher says C{account.up}.
- idling: IDLE (RFC 2177) through the protocol's interrupt-and-resume: fetching new mail,
  a liveness NOOP after C{keepaliveTimeout} of silence and the re-IDLE every C{reidle}
  each end the IDLE, and the protocol re-enters it.
- polling: NOOP every C{pollInterval} when IDLE is not offered.

Events come from the L{UidFollower}'s callbacks as the responses arrive, whatever the
state, so nothing is collected while waiting.
"""

from __future__ import annotations

from bisect import bisect_right
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet import defer
from twisted.logger import Logger

from idlemail.client.cursor import Cursor
from idlemail.client.events import (
    FLAGS_CHANGED,
    MESSAGE_EXPUNGED,
    MESSAGE_NEW,
    UIDVALIDITY_RESET,
)
from idlemail.client.failures import ConnectionDead, describe
from idlemail.client.follower import UidFollower
from idlemail.client.login import deadline
from idlemail.wire import response as R

HEADER_FIELDS = ("FROM", "SUBJECT", "DATE", "MESSAGE-ID")
_HEADERS = "BODY.PEEK[HEADER.FIELDS (%s)]" % " ".join(HEADER_FIELDS)
MAX_KNOWN_UIDS_PARAMETER = 16 * 1024  # octets of known-uids sent with QRESYNC (line limits)


def parseHeaders(raw: bytes) -> dict[str, str]:
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


def _inRanges(uid: int, starts: list[int], ranges) -> bool:
    i = bisect_right(starts, uid) - 1
    return i >= 0 and ranges[i][0] <= uid <= ranges[i][1]


class SessionInputs(Protocol):
    def selected(self) -> None:
        "SELECT answered: start syncing."

    def syncedToIdle(self) -> None:
        "Caught up, and the server offers IDLE."

    def syncedToPoll(self) -> None:
        "Caught up, and the server does not offer IDLE."

    def newMail(self) -> None:
        "Messages whose UIDs are not known yet exist."

    def tick(self) -> None:
        "The session's timer: liveness and re-IDLE, or the next poll."

    def closed(self) -> None:
        "The connection is gone."


def _buildMachine():
    builder = TypeMachineBuilder(SessionInputs, WatchSession)
    init = builder.state("init")
    syncing = builder.state("syncing")
    idling = builder.state("idling")
    polling = builder.state("polling")
    closed = builder.state("closed")

    @init.upon(SessionInputs.selected).to(syncing)
    def startSync(inputs: SessionInputs, core: WatchSession) -> None:
        core.startSync(inputs)

    @syncing.upon(SessionInputs.syncedToIdle).to(idling)
    def startIdling(inputs: SessionInputs, core: WatchSession) -> None:
        core.startIdling()

    @syncing.upon(SessionInputs.syncedToPoll).to(polling)
    def startPolling(inputs: SessionInputs, core: WatchSession) -> None:
        core.startPolling()

    @syncing.upon(SessionInputs.newMail).loop()
    def rememberMail(inputs: SessionInputs, core: WatchSession) -> None:
        core.mailWaiting = True  # the sync's own fetch, or the one after it, takes it

    @idling.upon(SessionInputs.newMail).loop()
    @polling.upon(SessionInputs.newMail).loop()
    def fetchMail(inputs: SessionInputs, core: WatchSession) -> None:
        core.fetchNew()

    @idling.upon(SessionInputs.tick).loop()
    def checkLiveness(inputs: SessionInputs, core: WatchSession) -> None:
        core.checkLiveness()

    @polling.upon(SessionInputs.tick).loop()
    def poll(inputs: SessionInputs, core: WatchSession) -> None:
        core.poll()

    for state in (init, syncing, idling, polling):
        @state.upon(SessionInputs.closed).to(closed)
        def close(inputs: SessionInputs, core: WatchSession) -> None:
            core.stopTimer()
    for state in (init, syncing):
        state.upon(SessionInputs.tick).loop().returns(None)
    init.upon(SessionInputs.newMail).loop().returns(None)
    for name in ("selected", "syncedToIdle", "syncedToPoll", "newMail", "tick", "closed"):
        closed.upon(getattr(SessionInputs, name)).loop().returns(None)
    return builder.build()


class WatchSession:
    """One connection's view of the watched mailbox; its owner is the watcher."""

    log = Logger()

    def __init__(self, watcher, proto):
        self.watcher, self.proto = watcher, proto
        self.settings, self.clock = watcher.settings, watcher.reactor
        self.follower = UidFollower(self)
        self.inputs = _Machine(self)
        self.mailbox = None  # the MailboxState SELECT returned
        self.qresync = False  # SELECT was sent with QRESYNC parameters
        self.condstore = False
        self.up = False
        self.isClosed = False
        self.failed: str | None = None  # the reason, once this session has given up
        self.byeReason: str | None = None
        self.mailWaiting = False
        self.highest = 0  # the highest UID reported (or skipped as old) so far
        self.modseq: int | None = None  # changes up to this MODSEQ have been reported
        self._syncing = True
        self._goneDuringSync: set[int] = set()
        self._fetching = self._fetchAgain = self._fetchingNew = False
        self._fetchFloor = 0
        self._fetchReported: set[int] = set()
        self._timer = None
        self._probing = False
        self._reidleAt = 0.0
        proto.onUntagged = self._untagged
        proto.onConnectionLost = self._lost

    # --- life ------------------------------------------------------------------------
    def selected(self, mailbox) -> None:
        self.mailbox = mailbox
        self.inputs.selected()

    def _event(self, name: str, **fields) -> None:
        self.watcher.event(name, uidvalidity=self.mailbox.uidvalidity, **fields)

    def _spawn(self, work) -> defer.Deferred:
        d = defer.ensureDeferred(work)
        d.addErrback(self._taskFailed)
        return d

    def _taskFailed(self, failure) -> None:
        if not self.isClosed:
            self.fail(self.byeReason or describe(failure, self.settings.address))

    def fail(self, reason: str) -> None:
        """Give up on this connection; the watcher reconnects."""
        if self.failed is None:
            self.failed = reason
            self.watcher.noteFailure(reason)
        self.close()

    def close(self) -> None:
        if self.proto.transport is not None:
            self.proto.transport.abortConnection()

    def _lost(self, reason) -> None:
        self.isClosed = True
        self.inputs.closed()
        self.watcher.sessionLost(self, reason)

    def _untagged(self, response) -> None:
        if isinstance(response, R.Status) and response.status == "BYE":
            self.byeReason = f"{self.settings.address} said BYE: {response.text}"
        self.follower.handle(response)

    # --- the cursor ------------------------------------------------------------------
    def _save(self) -> None:
        known = [u for u in self.follower.uids if u <= self.highest]
        self.watcher.saveCursor(Cursor(self.mailbox.uidvalidity, self.highest, known,
                                       self.modseq))

    def _advanceModseq(self, modseq) -> None:
        if isinstance(modseq, int) and self.modseq is not None and modseq > self.modseq:
            self.modseq = modseq

    # --- syncing ---------------------------------------------------------------------
    def startSync(self, inputs) -> None:
        self._spawn(self._sync(inputs))

    async def _sync(self, inputs) -> None:
        state, f = self.mailbox, self.follower
        cursor = self.watcher.cursor()
        f.start(state.exists, highestModseq=state.highestModseq)
        if cursor is None or cursor.uidvalidity is None or cursor.uidvalidity != state.uidvalidity:
            if cursor is not None and cursor.uidvalidity is not None:
                self._event(UIDVALIDITY_RESET, reason=f"UIDVALIDITY changed from "
                                                      f"{cursor.uidvalidity} to {state.uidvalidity}")
            await self._listAll()
            # First run (or a new mailbox): start at its end, no flood of old mail.
            self.highest = max(f.lastUid, (state.uidnext or 1) - 1)
            self.modseq = state.highestModseq
            self._save()
        else:
            self.highest, self.modseq = cursor.highest, cursor.modseq
            if self.qresync and state.highestModseq is not None:
                await self._resyncByQresync(cursor)
            else:
                await self._resyncByUids(cursor)
            if state.highestModseq is not None:
                self.modseq = max(self.modseq or 0, state.highestModseq)
            else:
                self.modseq = None
            self._save()
        self._syncing = False
        self._goneDuringSync.clear()
        self.mailWaiting = False
        await self._fetchLoop()
        self.up = True
        if "IDLE" in self.watcher.capabilities:
            inputs.syncedToIdle()
        else:
            inputs.syncedToPoll()  # RFC 2177: never IDLE unless advertised
        self.watcher.sessionUp(self)

    async def _listAll(self) -> None:
        self.follower.expectAll()
        await self._command("UID SEARCH", b"ALL")

    async def _resyncByUids(self, cursor) -> None:
        await self._listAll()
        for uid in cursor.uids:
            if uid <= cursor.highest and uid not in self.follower:
                self._reportGone(uid)
        if self.condstore and cursor.modseq is not None and self.highest:
            # RFC 7162 3.1.4: only what changed since the cursor; the answers go through
            # the follower like any FETCH and are reported by changed().
            await self._command("UID FETCH", b"1:%d" % self.highest, b"(UID FLAGS)",
                                b"(CHANGEDSINCE %d)" % cursor.modseq)

    async def _resyncByQresync(self, cursor) -> None:
        """RFC 7162 3.2.5: the SELECT said what vanished and what changed since the cursor."""
        state, f = self.mailbox, self.follower
        ranges = sorted(r for v in state.vanished for r in v.ranges)
        starts = [r[0] for r in ranges]
        kept, gone = [], []
        for uid in cursor.uids:
            (gone if _inRanges(uid, starts, ranges) else kept).append(uid)
        if len(kept) > state.exists:
            # The cursor names messages the server does not count: trust a UID list.
            await self._resyncByUids(Cursor(cursor.uidvalidity, cursor.highest, kept,
                                            cursor.modseq))
        else:
            f.start(state.exists, kept, state.highestModseq)
        for uid in gone:
            if uid <= cursor.highest:
                self._reportGone(uid)
        for fetch in state.changed:
            uid = fetch.items.get("UID")
            if isinstance(uid, int) and uid in f:
                self.changed(uid, fetch.items)

    def _reportGone(self, uid: int) -> None:
        if uid in self._goneDuringSync:
            return
        if self._syncing:
            self._goneDuringSync.add(uid)
        self._event(MESSAGE_EXPUNGED, uid=uid)

    def _command(self, name: str, *args) -> defer.Deferred:
        return deadline(self.proto.sendCommand(name, *args), self.settings.commandTimeout,
                        self.clock)

    # --- new mail --------------------------------------------------------------------
    def fetchNew(self) -> None:
        if self._fetching:
            self._fetchAgain = True
        else:
            self._spawn(self._fetchLoop())

    async def _fetchLoop(self) -> None:
        self._fetching = True
        try:
            self._fetchAgain = True
            while self._fetchAgain:
                self._fetchAgain = False
                await self._fetchOnce()
                await self._fillTail()
        finally:
            self._fetching = False

    async def _fetchOnce(self) -> None:
        items = "UID FLAGS" + (" MODSEQ" if self.condstore else "")
        if self.settings.wantsHeaders:
            items += " " + _HEADERS
        self._fetchFloor, self._fetchReported = self.highest, set()
        self._fetchingNew = True
        try:
            await self._command("UID FETCH", b"%d:*" % (self.highest + 1),
                                b"(" + items.encode() + b")")
        finally:
            self._fetchingNew = False
            self._fetchReported = set()

    async def _fillTail(self) -> None:
        f = self.follower
        if f.unknown > 0 or f.misplaced:
            f.expectTail()
            await self._command("UID SEARCH", b"UID %d:*" % (f.lastUid + 1))
        if f.unknown > 0:
            phantom = f.settle()
            self.log.warn("{where} counts {n} messages in {mailbox} that it does not list; "
                          "going by the list", where=self.settings.address, n=phantom,
                          mailbox=self.settings.mailbox)

    def _reportNew(self, uid: int, items: dict) -> None:
        if uid in self._fetchReported:
            return
        self._fetchReported.add(uid)
        raw = _headerBytes(items)
        flags = items.get("FLAGS")
        self._event(MESSAGE_NEW, uid=uid, flags=tuple(flags) if flags is not None else None,
                    headers=parseHeaders(raw) if raw else {})
        self.highest = max(self.highest, uid)
        self._advanceModseq(items.get("MODSEQ"))
        # Remember at once: a connection lost right after must not report it again.
        self._save()

    # --- the follower's callbacks ------------------------------------------------------
    def grew(self, unknown: int) -> None:
        self.inputs.newMail()

    def added(self, uid: int, items: dict) -> None:
        self._fetched(uid, items)

    def changed(self, uid: int, items: dict) -> None:
        self._fetched(uid, items)

    def expunged(self, uid: int) -> None:
        if uid <= self.highest:
            self._reportGone(uid)
            self._save()

    def _fetched(self, uid: int, items: dict) -> None:
        if uid > self.highest or (self._fetchingNew and uid > self._fetchFloor):
            if self._fetchingNew:
                self._reportNew(uid, items)
            else:
                self.inputs.newMail()  # its fetch, with headers, reports it
            return
        modseq = items.get("MODSEQ")
        if self._fetchingNew and modseq is None:
            return  # "n:*" also names the last message, however old: not a change
        flags = items.get("FLAGS")
        if flags is None:
            return
        if isinstance(modseq, int) and self.modseq is not None and modseq <= self.modseq:
            return  # reported already (RFC 7162: MODSEQ only grows)
        self._event(FLAGS_CHANGED, uid=uid, flags=tuple(flags))
        if isinstance(modseq, int) and not self._syncing:
            self._advanceModseq(modseq)
            self._save()

    # --- idling and polling ------------------------------------------------------------
    def startIdling(self) -> None:
        self.watcher.state = "idling"
        started = self.proto.idle()
        started.addErrback(lambda f: self._taskFailed(f) if not f.check(defer.CancelledError)
                           else None)
        self._reidleAt = self.clock.seconds() + self.settings.reidle
        if self.mailWaiting:
            self.fetchNew()
        self._schedule(min(self.settings.keepaliveTimeout, self.settings.reidle))

    def startPolling(self) -> None:
        self.watcher.state = "polling"
        if self.mailWaiting:
            self.fetchNew()
        self._schedule(self.settings.pollInterval)

    def _schedule(self, seconds: float) -> None:
        self.stopTimer()
        self._timer = self.clock.callLater(max(seconds, 0.01), self.inputs.tick)

    def stopTimer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def checkLiveness(self) -> None:
        s, now = self.settings, self.clock.seconds()
        silentFor = now - self.proto.lastReceived
        if not self._probing and (silentFor >= s.keepaliveTimeout or now >= self._reidleAt):
            # NOOP ends the IDLE (DONE), gets an answer or times out, and the protocol
            # re-enters IDLE: a liveness check and the re-IDLE in one.
            self._probe()
            self._reidleAt = now + s.reidle
        wait = min(self._reidleAt - now, s.keepaliveTimeout - (now - self.proto.lastReceived))
        self._schedule(wait if wait > 0 else s.keepaliveTimeout)

    def poll(self) -> None:
        if not self._probing:
            self._probe()
        self._schedule(self.settings.pollInterval)

    def _probe(self) -> None:
        self._probing = True

        def answered(result):
            self._probing = False
            return result

        def unanswered(failure):
            if failure.check(defer.TimeoutError, defer.CancelledError) and not self.isClosed:
                raise ConnectionDead(f"no answer from {self.settings.address} in "
                                     f"{self.settings.commandTimeout:g} s")
            return failure

        d = self._command("NOOP").addCallbacks(answered, unanswered)
        d.addErrback(self._taskFailed)


_Machine = _buildMachine()
