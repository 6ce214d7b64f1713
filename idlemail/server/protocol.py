"""
The IMAP4rev1 server protocol: framing, protocol states, the command queue, and
sending a session its pending mailbox updates when RFC 3501 allows.

Commands from one connection run strictly in order, one at a time, even when the
backend answers later; lines that arrive meanwhile wait in a bounded queue (the
transport is paused when it fills), so pipelining is safe.
"""

from __future__ import annotations

import re

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver

from idlemail.errors import IMAPError
from idlemail.server.commands import lookup
from idlemail.server.registry import ANSWERED, AUTHENTICATED, LOGOUT, NOT_AUTHENTICATED, SELECTED
from idlemail.server.responses import fetchFlags, mailboxFlags
from idlemail.server.writethrough import writeNow
from idlemail.wire.command import ParseError, parseCommand, parseTag

_TRAILING_LITERAL = re.compile(rb"\{(\d{1,10})(\+?)\}$")
_APPEND_START = re.compile(rb"^[^ ]+ (?:UID )?APPEND ", re.IGNORECASE)
_QUEUE_HIGH = 64  # queued commands before we stop reading from the socket


class IMAPServerProtocol(LineReceiver):
    """
    One client connection. C{self.factory} is an L{IMAPServerFactory}.
    """

    delimiter = b"\r\n"
    log = Logger()

    # Slots keep an idle connection small: thousands of idlers are the normal case.
    __slots__ = ("state", "account", "mailbox", "view", "lastHeard", "idlingSince",
                 "lastKeepalive", "tlsActive", "_idleTag", "_partial", "_literalLeft",
                 "_discardLeft", "_refusal", "_queue", "_busy", "_paused", "_continuation")

    def __init__(self) -> None:
        self.state = NOT_AUTHENTICATED
        self.tlsActive = False
        self._idleTag: str | None = None  # the IDLE command in progress
        self.account = None
        self.mailbox = None  # IMailbox while selected
        self.view = None  # SessionTracker while selected
        self.lastHeard = 0.0
        self.idlingSince: float | None = None
        self.lastKeepalive = 0.0
        self._partial = b""  # the command being collected, literals inline
        self._literalLeft = 0
        self._discardLeft = 0  # octets of a refused non-synchronizing literal
        self._refusal: tuple[str, str] | None = None
        # A list, not a deque: it is short, and an empty deque costs ~600 bytes per
        # connection.
        self._queue: list[bytes] = []
        self._busy = False
        self._paused = False
        self._continuation: defer.Deferred | None = None

    # --- connection ------------------------------------------------------------
    @property
    def MAX_LENGTH(self) -> int:  # read by LineReceiver
        return self.factory.maxLineLength

    def connectionMade(self) -> None:
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass  # not a TCP transport (tests, UNIX sockets)
        self.lastHeard = self.factory.clock.seconds()
        self.factory.sessions.add(self)
        self.sendLine(b"* OK [CAPABILITY " + self.capabilities() + b"] idlemail ready")

    def connectionLost(self, reason=None) -> None:
        self.factory.sessions.discard(self)
        self.state = LOGOUT
        self._queue.clear()
        if self._continuation is not None:
            d, self._continuation = self._continuation, None
            d.errback(ConnectionError("connection lost"))
        self.deselect()
        if self.account is not None:
            self.account.logout()
            self.account = None

    def capabilities(self) -> bytes:
        return self.factory.capabilities(self)

    # --- framing ---------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        self.lastHeard = self.factory.clock.seconds()
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if self.state == LOGOUT:
            return
        # Most commands are one line: no copy. Literals collect into a bytearray.
        data = self._partial + line if self._partial else line
        m = _TRAILING_LITERAL.search(line)
        if m is None:
            self._partial = b""
            if self._refusal is not None:
                self._refuse()
            else:
                self._enqueue(bytes(data))
            return
        size, nonSync = int(m.group(1)), bool(m.group(2))
        limit = (self.factory.appendLimit if _APPEND_START.match(data)
                 else self.factory.maxLiteral)
        if size > limit or len(data) + size > limit + self.factory.maxLineLength:
            what = "Message" if limit == self.factory.appendLimit else "Literal"
            self._refusal = (parseTag(bytes(data)),
                             f"{what} too big: {size} octets, limit is {limit}")
            self._partial = b""
            if not nonSync:
                # The client waits for "+": it will not send the literal (RFC 3501 7.5).
                self._refuse()
                return
            self._discardLeft = size
            self.setRawMode()
            return
        self._partial = bytearray(data)
        self._partial += b"\r\n"
        self._literalLeft = size
        if not nonSync:
            self.sendLine(b"+ Ready for literal data")
        self.setRawMode()

    def rawDataReceived(self, data: bytes) -> None:
        if self._discardLeft:
            used = min(self._discardLeft, len(data))
            self._discardLeft -= used
            if not self._discardLeft:
                self.setLineMode(data[used:])
            return
        used = min(self._literalLeft, len(data))
        self._partial += data[:used]
        self._literalLeft -= used
        if not self._literalLeft:
            self.setLineMode(data[used:])

    def _refuse(self) -> None:
        tag, text = self._refusal
        self._refusal = None
        self._partial = b""
        # The refused command's line may go on after the literal; that rest is dropped
        # with it.
        self.sendLine(f"{tag} NO [TOOBIG] {text}".encode())

    def lineLengthExceeded(self, line: bytes) -> None:
        # Resynchronising inside an over-long line is guesswork: say why, then close.
        self.sendLine(b"* BYE [TOOBIG] Line too long")
        self.transport.loseConnection()

    # --- the command queue -----------------------------------------------------
    def _enqueue(self, unit: bytes) -> None:
        self._queue.append(unit)
        if len(self._queue) >= _QUEUE_HIGH and not self._paused:
            self._paused = True
            self.transport.pauseProducing()
        self._runQueue()

    def _runQueue(self) -> None:
        while self._queue and self.state != LOGOUT:
            if self._idleTag is not None:
                self._endIdle(self._queue.pop(0))
                continue
            if self._continuation is not None:
                d, self._continuation = self._continuation, None
                d.callback(self._queue.pop(0))
                continue
            if self._busy:
                return
            unit = self._queue.pop(0)
            self._busy = True
            d = defer.ensureDeferred(self._execute(unit))
            d.addErrback(self._crashed)
            d.addBoth(self._commandDone)
        if self._paused and len(self._queue) < _QUEUE_HIGH // 2 and self.state != LOGOUT:
            self._paused = False
            self.transport.resumeProducing()

    def _commandDone(self, _) -> None:
        self._busy = False
        if self._queue:
            self._runQueue()

    def _crashed(self, failure) -> None:
        # _execute answers every failure itself; this is the last net, and the
        # connection goes on whatever happened.
        if self.state != LOGOUT:
            self.log.failure("Command failed unexpectedly", failure)

    def readContinuation(self, prompt: bytes) -> defer.Deferred:
        """
        Send C{+ prompt} and return a Deferred for the client's next line (used by
        IDLE and AUTHENTICATE, whose next line is not a command).
        """
        self._continuation = d = defer.Deferred()
        self.sendLine(b"+ " + prompt)
        return d

    # --- IDLE (RFC 2177) ---------------------------------------------------------
    # IDLE is a protocol state rather than an awaiting coroutine, so that an idling
    # connection holds no frames or Deferreds.
    def startIdle(self, tag: str) -> None:
        self._idleTag = tag
        self.idlingSince = self.lastKeepalive = self.factory.clock.seconds()
        self.sendLine(b"+ idling")
        if self.view is not None:
            self.sendUpdates()

    def _endIdle(self, line: bytes) -> None:
        tag, self._idleTag, self.idlingSince = self._idleTag, None, None
        if line.strip().upper() == b"DONE":
            if self.view is not None:
                self.sendUpdates()
            self._finish(tag, "OK", None, "IDLE terminated")
            return
        # Anything else ends IDLE with BAD; the line is then run as the command it may be.
        self._finish(tag, "BAD", None, "Expected DONE to end IDLE")
        self.pushBack(line)

    def pushBack(self, unit: bytes) -> None:
        """Put a line read as a continuation back to be run as a command."""
        self._queue.insert(0, unit)

    async def _execute(self, unit: bytes) -> None:
        # No exception ends the connection: a bug in one command is a tagged
        # NO [SERVERBUG] for that command (RFC 5530), logged with its traceback.
        tag = None
        try:
            tag = await self._run(unit)
        except Exception:
            if self.state == LOGOUT:
                return  # the client went away mid-command: nothing to say
            self.log.failure("Command failed unexpectedly")
            if tag is None:  # not answered yet
                self._serverBug(parseTag(unit))

    async def _run(self, unit: bytes) -> str:
        """Run one command; returns its tag once the tagged response is sent."""
        try:
            cmd = parseCommand(unit)
        except ParseError as e:
            self.sendLine(f"{e.tag} BAD {e}".encode())
            return e.tag
        handler = lookup(cmd.name)
        if handler is None:
            self.sendLine(f"{cmd.tag} BAD Unknown command".encode())
            return cmd.tag
        if self.state not in handler.states:
            self.sendLine(f"{cmd.tag} BAD {cmd.name} is not allowed {_stateText(self.state)}".encode())
            return cmd.tag
        status, code, text = "OK", None, f"{cmd.name} completed"
        try:
            result = await handler.run(self, cmd)
        except IMAPError as e:
            status, code, text = e.status, e.code, str(e)
        except Exception:
            if self.state == LOGOUT:
                return cmd.tag
            self.log.failure("{command} failed unexpectedly", command=cmd.name)
            status, code, text = "NO", "SERVERBUG", _SERVERBUG_TEXT
        else:
            if result is ANSWERED:
                return cmd.tag
            if isinstance(result, tuple):
                code, text = result
            elif result is not None:
                text = result
        if self.state == LOGOUT:
            self._finish(cmd.tag, status, code, text)
            self.transport.loseConnection()
            return cmd.tag
        if self.view is not None:
            self.sendUpdates(expunges=cmd.uid or handler.expungesAfter,
                             ownFlags=cmd.name not in ("STORE", "FETCH"))
        self._finish(cmd.tag, status, code, text)
        return cmd.tag

    def _serverBug(self, tag: str) -> None:
        self._finish(tag, "NO", "SERVERBUG", _SERVERBUG_TEXT)

    def _finish(self, tag: str, status: str, code: str | None, text: str) -> None:
        line = f"{tag} {status} " + (f"[{code}] " if code else "") + text
        self.sendLine(line.encode("utf-8"))

    # --- responses -------------------------------------------------------------
    def untagged(self, data: bytes) -> None:
        self.transport.write(b"* " + data + b"\r\n")

    def sendUpdates(self, expunges: bool = True, ownFlags: bool = True) -> None:
        """Tell the session what changed in its mailbox, as far as it may be told now."""
        lines = []
        view = self.view
        for item in view.drain(expunges=expunges, ownFlags=ownFlags):
            kind = item[0]
            if kind == "BYE":
                self._endForReset(item[1])
                return
            if kind == "FETCH":
                _, seq, uid, flags = item
                # UID too, so a client need not ask which message it was.
                lines.append(b"* " + fetchFlags(seq, flags, uid in view.recent, uid) + b"\r\n")
            elif kind == "FLAGS":
                lines.extend(b"* " + line + b"\r\n" for line in self.flagsResponses(item[1]))
            else:
                lines.append(b"* %d %s\r\n" % (item[1], kind.encode()))
        if lines:
            writeNow(self.transport, b"".join(lines))

    def announceKeywords(self) -> None:
        """
        Send FLAGS and PERMANENTFLAGS now if the mailbox has new keywords: before a
        FETCH response that may use one (RFC 3501 7.2.6).
        """
        keywords = self.view.takeKeywords()
        if keywords is not None:
            for line in self.flagsResponses(keywords):
                self.untagged(line)

    def flagsResponses(self, keywords) -> list[bytes]:
        return mailboxFlags(keywords, self.mailbox.permanentFlags, self.view.readonly)

    def wake(self) -> None:
        """Called by the tracker when something changed: push at once while idling."""
        if self.idlingSince is not None or (self.view.reset is not None and not self._busy):
            self.sendUpdates()

    def _endForReset(self, reason: str) -> None:
        # The mailbox was reset (its UIDs changed meaning): end the session rather than
        # serve wrong UIDs. RFC 3501 7.1.5 lets a server say BYE at any time; a command in
        # progress still gets its tagged response before the connection closes.
        self.sendLine(b"* BYE " + reason.encode("utf-8", "replace"))
        self.state = LOGOUT
        self.transport.loseConnection()

    # --- selection -------------------------------------------------------------
    def select(self, mailbox, view) -> None:
        self.deselect()
        self.mailbox, self.view = mailbox, view
        self.state = SELECTED

    def deselect(self) -> None:
        if self.view is not None:
            self.view.mailbox.closeSession(self.view)
            self.view = None
        if self.mailbox is not None:
            mailbox, self.mailbox = self.mailbox, None
            mailbox.close()
        if self.state == SELECTED:
            self.state = AUTHENTICATED


_SERVERBUG_TEXT = "Internal error; the command may not have completed"


def _stateText(state: str) -> str:
    return {NOT_AUTHENTICATED: "before login", AUTHENTICATED: "without a selected mailbox",
            SELECTED: "with a mailbox selected"}.get(state, "now")
