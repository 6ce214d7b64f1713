"""
The IMAP4rev1 server protocol: framing, protocol states, the command queue, and
sending a session its pending mailbox updates when RFC 3501 allows.

Commands from one connection run strictly in order, one at a time, even when the
backend answers later; lines that arrive meanwhile wait in a queue, so pipelining is safe.

Nothing a client sends, or leaves unread, is held without bound:
 - A command's literal is judged before one octet of it is read: may this command run in
   this state, and is the literal within its limit (small before login)? If not, the
   command is answered at once; a synchronising literal never gets its C{+}, and a
   non-synchronising one (RFC 7888) is discarded as it arrives. The judgement waits until
   the commands before it are done, since they may change the state (a pipelined LOGIN).
 - The queue of waiting commands is bounded in count and octets: reading stops when full.
 - The protocol is its transport's producer: while the unsent output is over the bound,
   nothing more is read, and a command with much to say (FETCH) waits (L{whenWritable}).

What a command writes is gathered (up to L{OUTPUT_CHUNK}) and handed to the socket in one
write when the command ends, goes on waiting for something, or the client must read it
(a continuation); so that one command costs one send, not a write queued per line and a
reactor pass to send it (L{idlemail.server.writethrough}).
"""

from __future__ import annotations

import re
from time import monotonic

from twisted.internet import abstract, defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from idlemail.errors import IMAPError
from idlemail.server import sessionlog
from idlemail.server.commands import lookup
from idlemail.server.limits import parseAddress
from idlemail.server.sequences import compactSet
from idlemail.server.registry import ANSWERED, AUTHENTICATED, LOGOUT, NOT_AUTHENTICATED, SELECTED
from idlemail.server.responses import fetchFlags, mailboxFlags
from idlemail.server.writethrough import writeNow
from idlemail.wire.command import ParseError, parseCommand, parseTag

_TRAILING_LITERAL = re.compile(rb"\{(\d{1,10})(\+?)\}$")
_QUEUE_HIGH = 64  # queued commands before we stop reading from the socket
_QUEUE_BYTES = 1024 * 1024  # queued octets before we stop reading from the socket
_INPUT_HIGH = 64 * 1024  # unparsed octets read while the output is behind, at most
_PUSH_SLACK = 16  # unsent pushes kept up to this many output bounds, then the client is cut
#: What a running command may have gathered before it is handed to the transport.
OUTPUT_CHUNK = 64 * 1024


class IMAPServerProtocol(LineReceiver):
    """
    One client connection. C{self.factory} is an L{IMAPServerFactory}.

    @ivar peer: the client's (host, port); host as L{parseAddress} writes it, or None.
    @ivar user: the login name once logged in.
    """

    delimiter = b"\r\n"
    log = Logger()

    # Slots keep an idle connection small: thousands of idlers are the normal case.
    __slots__ = ("state", "account", "user", "mailbox", "view", "peer", "connectedAt",
                 "loginAt", "lastHeard", "idlingSince", "lastKeepalive", "tlsActive",
                 "authFailures", "condstore", "qresync", "notify", "_idleTag", "_partial", "_literalLeft", "_discardLeft",
                 "_refusal", "_queue", "_queuedBytes", "_busy", "_queueFull", "_outputFull",
                 "_holding", "_socketPaused", "_drained", "_continuation", "_failures",
                 "savedSearch", "_out", "_outLen")

    def __init__(self) -> None:
        self.state = NOT_AUTHENTICATED
        self.tlsActive = False
        self._idleTag: str | None = None  # the IDLE command in progress
        self.account = None
        self.user: str | None = None
        self.mailbox = None  # IMailbox while selected
        self.view = None  # SessionTracker while selected
        self.savedSearch: tuple[int, ...] = ()  # RFC 5182 "$": UIDs, ascending
        self.peer: tuple = (None, None)
        self.connectedAt = self.loginAt = self.lastHeard = 0.0
        self.idlingSince: float | None = None
        self.lastKeepalive = 0.0
        self.authFailures = 0
        # RFC 7162: CONDSTORE / QRESYNC enabled in this session (QRESYNC implies both).
        self.condstore = self.qresync = False
        self.notify = None  # a NotifySet (idlemail.server.notify) once NOTIFY SET is done
        self._partial = b""  # the command being collected, literals inline
        self._literalLeft = 0
        self._discardLeft = 0  # octets of a refused non-synchronizing literal
        self._refusal: bytes | None = None  # the answer to a command being discarded
        # A list, not a deque: it is short, and an empty deque costs ~600 bytes per
        # connection.
        self._queue: list[bytes] = []
        self._queuedBytes = 0
        self._busy = False
        # Why reading is paused: too much queued, too much unsent, or a line held back.
        self._queueFull = self._outputFull = self._holding = False
        self._socketPaused = False
        self._drained: defer.Deferred | None = None  # fired when the client catches up
        self._continuation: defer.Deferred | None = None
        self._failures: sessionlog.RepeatedFailures | None = None
        self._out: list[bytes] | None = None  # gathered output of the running command
        self._outLen = 0

    # --- connection ------------------------------------------------------------
    @property
    def MAX_LENGTH(self) -> int:  # read by LineReceiver
        return self.factory.maxLineLength

    def connectionMade(self) -> None:
        transport = self.transport
        try:
            transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass  # not a TCP transport (tests, UNIX sockets)
        factory = self.factory
        self.lastHeard = self.connectedAt = factory.clock.seconds()
        self.peer = _peerOf(transport)
        # Implicit TLS (an ssl: endpoint): secure from the first octet.
        self.tlsActive = ISSLTransport.providedBy(transport)
        if not factory.sessionStarted(self):
            self.state = LOGOUT
            self.sendLine(b"* BYE [LIMIT] Too many connections from your address")
            transport.loseConnection()
            return
        socket = _socketOf(transport)
        if socket is not None:
            socket.bufferSize = factory.outputBound  # when the producer is paused
        transport.registerProducer(self, True)
        self.sendLine(b"* OK [CAPABILITY " + self.capabilities() + b"] idlemail ready")

    def connectionLost(self, reason=None) -> None:
        self.factory.sessionEnded(self)
        self.state = LOGOUT
        self._queue.clear()
        self._out, self._outLen = None, 0
        if self._continuation is not None:
            d, self._continuation = self._continuation, None
            d.errback(ConnectionError("connection lost"))
        if self._drained is not None:
            d, self._drained = self._drained, None
            d.errback(ConnectionDone("connection lost"))
        self.deselect()
        if self.notify is not None:
            self.notify.stop()
            self.notify = None
        if self.account is not None:
            self.account.logout()
            self.account = None
        if self._failures is not None:
            self._failures.summary(self)

    def capabilities(self) -> bytes:
        return self.factory.capabilities(self)

    def loggedIn(self, account, user: str, method: str) -> None:
        self.account, self.user, self.state = account, user, AUTHENTICATED
        self.loginAt = self.factory.clock.seconds()
        self.factory.prelogin.discard(self)
        sessionlog.loggedIn(self, method)

    def disconnect(self) -> None:
        """Close once what is written is sent (Twisted waits for the producer to go first)."""
        self.flushOutput()
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def bye(self, text: bytes) -> None:
        """Say C{* BYE text} and close; a client that reads nothing, or that is in the
        middle of a response, is simply cut off."""
        busy = self._busy or self._outputFull
        self.state = LOGOUT
        if busy:
            self.transport.abortConnection()
            return
        self.sendLine(b"* BYE " + text)
        self.disconnect()

    def abandon(self, why: str) -> None:
        """Cut the connection off: a response was started that cannot be finished."""
        self.log.warn("Dropping the connection (rip={rip} rport={rport}): {why}",
                      rip=self.peer[0], rport=self.peer[1], why=why)
        self.state = LOGOUT
        self.transport.abortConnection()

    # --- reading: framing --------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        self.lastHeard = self.factory.clock.seconds()
        super().dataReceived(data)
        if self.paused:
            self._updateReading()  # unparsed input grew

    def lineReceived(self, line: bytes) -> None:
        if self.state == LOGOUT:
            return
        if self._refusal is not None:
            self._refusedLine(line)
            return
        m = _TRAILING_LITERAL.search(line)
        if m is None or self._continuation is not None:
            # A whole command, or the line a command in progress waits for (whatever
            # it ends with: it is no command, so it has no literal).
            data = self._partial + line if self._partial else line
            self._partial = b""
            self._enqueue(bytes(data))
            return
        size, nonSync = int(m.group(1)), bool(m.group(2))
        if not self._partial:
            if self._idleTag is not None:
                self._stopIdle(done=False)  # not DONE: ends IDLE, and is a command
            if self._busy or self._queue:
                self._hold(line)
                return
        data = self._partial + line if self._partial else line
        refusal = self._literalRefusal(data, size)
        if refusal is not None:
            self._partial = b""
            self._refusal = refusal.encode("utf-8")
            if nonSync:
                self._discard(size)
            else:
                self._refuse()  # the client waits for "+", which never comes
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

    def _literalRefusal(self, data: bytes, size: int) -> str | None:
        """The tagged answer refusing the command this literal belongs to, or None."""
        tag, name = _commandWords(data)
        if not self._partial:  # the command's first literal: judge the command
            handler = lookup(name)
            if handler is None:
                return f"{tag} BAD Unknown command"
            if self.state not in handler.states:
                return f"{tag} BAD {name} is not allowed {_stateText(self.state)}"
        factory = self.factory
        if self.state == NOT_AUTHENTICATED:
            limit, what = factory.preloginLiteral, "Literal before login"
        elif name == "APPEND":
            limit, what = factory.appendLimit, "Message"
        else:
            limit, what = factory.maxLiteral, "Literal"
        if size > limit or len(data) + size > limit + factory.maxLineLength:
            return f"{tag} NO [TOOBIG] {what} too big: {size} octets, limit is {limit}"
        return None

    def _discard(self, size: int) -> None:
        if size:
            self._discardLeft = size
            self.setRawMode()

    def _refusedLine(self, line: bytes) -> None:
        # What follows a discarded literal is the rest of the refused command; a further
        # non-synchronising literal of it is discarded too.
        m = _TRAILING_LITERAL.search(line)
        if m is not None and m.group(2):
            self._discard(int(m.group(1)))
            return
        self._refuse()

    def _refuse(self) -> None:
        refusal, self._refusal = self._refusal, None
        self.sendLine(refusal)

    def _hold(self, line: bytes) -> None:
        # Whether this command may run, and how large its literal may be, depend on the
        # state the commands before it leave: read on once they are done.
        self._buffer = line + self.delimiter + self._buffer
        self._holding = True
        self._updateReading()

    def lineLengthExceeded(self, line: bytes) -> None:
        # Resynchronising inside an over-long line is guesswork: say why, then close.
        self.bye(b"[TOOBIG] Line too long")

    def discardInput(self) -> None:
        """Forget everything the client sent after the running command (STARTTLS:
        plaintext sent before the handshake must not run as if it came over TLS)."""
        self.clearLineBuffer()
        self.line_mode = 1
        self._queue.clear()
        self._queuedBytes = 0
        self._partial, self._refusal, self._literalLeft, self._discardLeft = b"", None, 0, 0
        self._queueFull = self._holding = False
        self._updateReading()

    # --- reading: when to pause ------------------------------------------------------
    def _updateReading(self) -> None:
        if self.state == LOGOUT:
            return
        stop = self._holding or self._queueFull or self._outputFull
        # While only the output is behind, the socket is still read up to a bound: a
        # TLS layer may have to read (its handshake) before it can send what is behind.
        stopSocket = self._holding or self._queueFull or (
            self._outputFull and len(self._buffer) >= _INPUT_HIGH)
        if stopSocket != self._socketPaused:
            self._socketPaused = stopSocket
            if stopSocket:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()
        if stop != self.paused:
            self.paused = stop  # LineReceiver keeps what it has read, unparsed
            if not stop:
                LineReceiver.dataReceived(self, b"")  # the lines read before the pause

    # IPushProducer: the transport calls these as its unsent output crosses the bound.
    def pauseProducing(self) -> None:
        if not self._outputFull:
            self._outputFull = True
            self._updateReading()

    def resumeProducing(self) -> None:
        if self._outputFull:
            self._outputFull = False
            d, self._drained = self._drained, None
            if d is not None:
                d.callback(None)
            self._updateReading()
            self.caughtUp()

    def stopProducing(self) -> None:
        pass  # connectionLost follows

    def caughtUp(self) -> None:
        """The client read what it was behind on: NOTIFY's held pushes may go now."""
        if self.notify is not None and not self._busy:
            self.notify.flush()

    def whenWritable(self) -> defer.Deferred | None:
        """None if the client keeps up with what it is sent; else a Deferred that fires
        when it has caught up (and fails if the connection is lost first)."""
        if self._outLen >= OUTPUT_CHUNK:
            self.flushOutput()
        if not self._outputFull:
            return None
        if self._drained is None:
            self._drained = defer.Deferred()
        return self._drained

    def heldBytes(self) -> int:
        """Octets this connection holds: unparsed input, queued commands, unsent output."""
        held = len(self._buffer) + len(self._partial) + self._queuedBytes + self._outLen
        socket = _socketOf(self.transport)
        if socket is not None:
            held += len(socket.dataBuffer) - socket.offset + socket._tempDataLen
        return held

    # --- the command queue -----------------------------------------------------
    def _enqueue(self, unit: bytes) -> None:
        self._queue.append(unit)
        self._queuedBytes += len(unit)
        if len(self._queue) >= _QUEUE_HIGH or self._queuedBytes > _QUEUE_BYTES:
            self._queueFull = True
            self._updateReading()
        self._runQueue()

    def _pop(self) -> bytes:
        unit = self._queue.pop(0)
        self._queuedBytes -= len(unit)
        return unit

    def _runQueue(self) -> None:
        while self._queue and self.state != LOGOUT:
            # (A NOTIFY push being written, which holds _busy, finishes before DONE.)
            if self._idleTag is not None and not self._busy:
                line = self._pop()
                done = line.strip().upper() == b"DONE"
                self._stopIdle(done)
                if not done:
                    self.pushBack(line)  # ends IDLE, then runs as the command it may be
                continue
            if self._continuation is not None:
                d, self._continuation = self._continuation, None
                d.callback(self._pop())
                continue
            if self._busy:
                break
            unit = self._pop()
            self._busy = True
            d = defer.ensureDeferred(self._execute(unit))
            d.addErrback(self._crashed)
            d.addBoth(self._commandDone)
        if self._queueFull and (len(self._queue) < _QUEUE_HIGH // 2
                                and self._queuedBytes <= _QUEUE_BYTES // 2):
            self._queueFull = False
        if self._holding and not self._busy and not self._queue:
            self._holding = False
        # The commands run so far are done, or wait for something: their output goes.
        self.flushOutput()
        self._updateReading()

    def _commandDone(self, _) -> None:
        self._busy = False
        self.runPush()
        self._runQueue()

    def runPush(self) -> None:
        """
        Run NOTIFY's MessageNew FETCH (RFC 5465 5.2) now if no command is running, as if
        it were one: a command read meanwhile waits for it, and it never writes into
        another command's responses.
        """
        if self._busy or self.notify is None or not self.notify.fetchDue() \
                or self.state == LOGOUT:
            return
        self._busy = True
        d = defer.ensureDeferred(self.notify.fetchNew())
        d.addErrback(self._crashed)
        d.addBoth(self._commandDone)

    def _crashed(self, failure) -> None:
        # _execute answers every failure itself; this is the last net, and the
        # connection goes on whatever happened.
        if self.state != LOGOUT:
            self.reportFailure(failure, "A command")

    def reportFailure(self, failure: Failure, what: str) -> None:
        """Log an unexpected failure: its traceback the first time, a count after."""
        if self._failures is None:
            self._failures = sessionlog.RepeatedFailures()
        self._failures.report(failure, what, self)

    def readContinuation(self, prompt: bytes) -> defer.Deferred:
        """
        Send C{+ prompt} and return a Deferred for the client's next line (used by
        IDLE and AUTHENTICATE, whose next line is not a command).
        """
        self._continuation = d = defer.Deferred()
        self.sendLine(b"+ " + prompt)
        self.flushOutput()  # the client waits for it
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

    def _stopIdle(self, done: bool) -> None:
        """End IDLE: with OK on DONE, else with BAD (the line is then run as a command)."""
        tag, self._idleTag, self.idlingSince = self._idleTag, None, None
        if not done:
            self.factory.metrics.command("IDLE", "BAD")
            self._finish(tag, "BAD", None, "Expected DONE to end IDLE")
            return
        if self.view is not None:
            self.sendUpdates()
        if self.notify is not None:
            self.notify.flush()
        self.factory.metrics.command("IDLE", "OK")
        self._finish(tag, "OK", None, "IDLE terminated")

    def pushBack(self, unit: bytes) -> None:
        """Put a line read as a continuation back to be run as a command."""
        self._queue.insert(0, unit)
        self._queuedBytes += len(unit)

    async def _execute(self, unit: bytes) -> None:
        # No exception ends the connection: a bug in one command is a tagged
        # NO [SERVERBUG] for that command (RFC 5530), logged with its traceback.
        tag = None
        try:
            tag = await self._run(unit)
        except Exception:
            if self.state == LOGOUT:
                return  # the client went away mid-command: nothing to say
            self.reportFailure(Failure(), "A command")
            if tag is None:  # not answered yet
                self._serverBug(parseTag(unit))

    async def _run(self, unit: bytes) -> str:
        """Run one command; returns its tag once the tagged response is sent."""
        try:
            cmd = parseCommand(unit)
        except ParseError as e:
            words = unit.split(b" ", 2)
            name = words[1].decode("ascii", "replace").upper() if len(words) > 1 else "OTHER"
            self.factory.metrics.command(name, "BAD")  # bounded labels: odd names are OTHER
            self.sendLine(f"{e.tag} BAD {e}".encode())
            return e.tag
        handler = lookup(cmd.name)
        metrics = self.factory.metrics
        if handler is None:
            metrics.command(cmd.name, "BAD")
            self.sendLine(f"{cmd.tag} BAD Unknown command".encode())
            return cmd.tag
        if self.state not in handler.states:
            metrics.command(cmd.name, "BAD")
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
            self.reportFailure(Failure(), cmd.name)
            status, code, text = "NO", "SERVERBUG", _SERVERBUG_TEXT
        else:
            if result is ANSWERED:
                return cmd.tag  # IDLE and STARTTLS count themselves when they answer
            if isinstance(result, tuple):
                code, text = result
            elif result is not None:
                text = result
        metrics.command(cmd.name, status)
        if self.state == LOGOUT:  # LOGOUT, or a BYE said by the command
            self._finish(cmd.tag, status, code, text)
            self.disconnect()
            return cmd.tag
        if self.view is not None:
            expunges = cmd.uid or handler.expungesAfter or (
                self.notify is not None and self.notify.immediateExpunges)
            lines, expunged = self._collectUpdates(expunges, cmd.name not in ("STORE", "FETCH"))
            if expunged and self.qresync:
                # RFC 7162 3.2.10: say how far the expunges took HIGHESTMODSEQ, in the
                # tagged OK where it has room (as RFC 7162's EXPUNGE example does).
                highest = f"HIGHESTMODSEQ {self.view.toldModseq()}"
                if status == "OK" and code is None:
                    code = highest
                else:
                    lines.append(b"* OK [" + highest.encode() + b"] Highest\r\n")
            self._writeUpdates(lines)
        if self.notify is not None:
            self.notify.flush()
        self._finish(cmd.tag, status, code, text)
        return cmd.tag

    def _serverBug(self, tag: str) -> None:
        self._finish(tag, "NO", "SERVERBUG", _SERVERBUG_TEXT)

    def _finish(self, tag: str, status: str, code: str | None, text: str) -> None:
        line = f"{tag} {status} " + (f"[{code}] " if code else "") + text
        self.sendLine(line.encode("utf-8"))

    # --- responses -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send C{data}: gathered while a command runs, else at once (a push, a
        continuation, the answer to IDLE's DONE)."""
        if self._busy:
            if self._out is None:
                self._out = []
            self._out.append(data)
            self._outLen += len(data)
            return
        if self._out is not None:
            self.flushOutput()
        writeNow(self.transport, data)

    def flushOutput(self) -> None:
        """Hand what was gathered to the transport, in one write."""
        if self._out is not None:
            data = b"".join(self._out)
            self._out, self._outLen = None, 0
            writeNow(self.transport, data)

    def sendLine(self, line: bytes) -> None:
        self.write(line + b"\r\n")

    def untagged(self, data: bytes) -> None:
        self.write(b"* " + data + b"\r\n")

    def sendUpdates(self, expunges: bool = True, ownFlags: bool = True) -> int:
        """
        Tell the session what changed in its mailbox, as far as it may be told now;
        return how many responses were written.
        """
        lines, expunged = self._collectUpdates(expunges, ownFlags)
        if expunged and self.qresync and self.state != LOGOUT:
            lines.append(b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % self.view.toldModseq())
        sent = self._writeUpdates(lines)
        self.runPush()  # NOTIFY's FETCH of new messages, after their EXISTS
        return sent

    def _collectUpdates(self, expunges: bool, ownFlags: bool) -> tuple[list[bytes], bool]:
        """The lines telling what the session may be told now, and whether they include
        expunges. QRESYNC sessions are told VANISHED (RFC 7162 3.2.10); CONDSTORE ones
        get each FETCH's MODSEQ (RFC 7162 3.1); a NOTIFY that leaves out the selected
        mailbox's events (RFC 5465 5.2-5.4) drops them, as told."""
        lines: list[bytes] = []
        view, notify, condstore = self.view, self.notify, self.condstore
        counts = flagChanges = True
        if notify is not None:
            counts, flagChanges = notify.selectedCounts, notify.selectedFlags
        known, expunged = view.known, False
        for item in view.drain(expunges, ownFlags, self.qresync, condstore):
            kind = item[0]
            if kind == "BYE":
                self._endForReset(item[1])
                return [], False
            if kind == "FETCH":
                if not flagChanges:
                    continue
                # UID too, so a client need not ask which message it was.
                lines.append(b"* " + fetchFlags(item[1], item[3], item[2] in view.recent,
                                                item[2], item[4] if condstore else None)
                             + b"\r\n")
            elif kind == "FLAGS":
                lines.extend(b"* " + line + b"\r\n" for line in self.flagsResponses(item[1]))
            elif not counts:
                continue
            elif kind == "VANISHED":
                expunged = True
                lines.append(b"* VANISHED " + compactSet(item[1]).encode() + b"\r\n")
            else:
                expunged = expunged or kind == "EXPUNGE"
                lines.append(b"* %d %s\r\n" % (item[1], kind.encode()))
        if counts and notify is not None and notify.fetch and view.known > known:
            notify.newMessages(known)  # MessageNew's FETCH, after the EXISTS
        return lines, expunged

    def _writeUpdates(self, lines: list[bytes]) -> int:
        if lines and self.state != LOGOUT:
            self.write(b"".join(lines))
            # Pushes are the one output no command waits for: a client that reads none of
            # them (idling on a busy mailbox) would make the server hold them all.
            if self._outputFull and self.heldBytes() > self.factory.outputBound * _PUSH_SLACK:
                self.abandon("the client reads none of its mailbox updates")
        return len(lines)

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
        """Called by the tracker when something changed: push at once while idling, or
        while no command is in progress once NOTIFY asked for the selected mailbox's
        events (RFC 5465 3.1)."""
        if self.idlingSince is not None or (self.view.reset is not None and not self._busy):
            sent = self.sendUpdates()  # IDLE allows expunges, SELECTED-DELAYED or not
            if sent and self.idlingSince is not None:
                metrics = self.factory.metrics
                metrics.pushSent(sent)
                metrics.pushLatency(monotonic() - self.view.mailbox.publishedAt)
        elif self.notify is not None and not self._busy and self.notify.selectedCounts:
            self.sendUpdates(self.notify.immediateExpunges)

    def _endForReset(self, reason: str) -> None:
        # The mailbox was reset (its UIDs changed meaning): end the session rather than
        # serve wrong UIDs. RFC 3501 7.1.5 lets a server say BYE at any time; a command in
        # progress still gets its tagged response before the connection closes.
        self.sendLine(b"* BYE " + reason.encode("utf-8", "replace"))
        self.state = LOGOUT
        self.disconnect()

    # --- selection -------------------------------------------------------------
    def select(self, mailbox, view) -> None:
        self.deselect()
        self.mailbox, self.view = mailbox, view
        self.state = SELECTED

    def deselect(self) -> None:
        self.savedSearch = ()  # RFC 5182 2.1: "$" belongs to the mailbox it was made in
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


def _commandWords(data: bytes) -> tuple[str, str]:
    """The tag and the command name (C{FETCH} for C{UID FETCH}) at the start of C{data}."""
    words = bytes(data[:100]).split(b" ", 3)
    name = words[1] if len(words) > 1 else b""
    if name.upper() == b"UID" and len(words) > 2:
        name = words[2]
    return parseTag(data[:100]), name.decode("ascii", "replace").upper()


def _socketOf(transport):
    """The TCP transport under C{transport} (itself, or under the TLS of an ssl: endpoint)."""
    if not isinstance(transport, abstract.FileDescriptor):
        transport = getattr(transport, "transport", None)
    return transport if isinstance(transport, abstract.FileDescriptor) else None


def _peerOf(transport) -> tuple:
    try:
        peer = transport.getPeer()
    except Exception:
        return (None, None)
    address = parseAddress(getattr(peer, "host", None))
    return (str(address) if address is not None else None, getattr(peer, "port", None))
