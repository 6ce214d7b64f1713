"""
IMAPClientProtocol: an IMAP4rev1 client sharing idlemail's wire layer.

- One Deferred per tagged command; commands may be pipelined.
- Every untagged response is handed to C{onUntagged} the moment it is read, whatever
  command is in flight. A command keeps only the kinds of response it asks for
  (C{collect}); the rest is dropped once handed on, so a server that floods untagged data
  (during IDLE or any command) leaves nothing behind that grows.
- Framing (L{ResponseFramer}) bounds what a server can make us hold: a line, the
  literals of one response together (C{maxLiteralSize}, 64 MB by default) and their count.
  Over a bound the connection is dropped and C{closeReason} says why.
- IDLE can be interrupted: C{idle()} asks to idle until C{stopIdle()}; a command sent
  meanwhile ends the IDLE (DONE), goes out after the IDLE's tagged response (RFC 2177: no
  command while the server waits for DONE), and IDLE is re-entered once no command is left.
- Literals (L{LiteralArgument}, and strings that cannot be quoted) go out non-synchronizing
  where the server offers LITERAL+ (RFC 7888), else synchronizing: the command waits for the
  server's C{+} before each literal, and later commands wait behind it (RFC 3501 4.3).
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec (a pure helper)
from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from idlemail.client.framing import ResponseFramer, ResponseTooLarge
from idlemail.wire import response as R

DEFAULT_MAX_LITERAL = 64 * 1024 * 1024


def _returnsDeferred(fn):
    """Let callers of an C{async def} method use Deferred API (e.g. C{addTimeout})."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return defer.ensureDeferred(fn(*args, **kwargs))
    return wrapper


class IMAPCommandError(Exception):
    """A command ended in NO or BAD."""

    def __init__(self, tagged: R.Tagged):
        super().__init__(f"{tagged.status} {tagged.text}")
        self.tagged = tagged


@dataclass
class CommandResult:
    tagged: R.Tagged
    untagged: list = field(default_factory=list)


@dataclass
class MailboxState:
    exists: int = 0
    recent: int = 0
    uidvalidity: int | None = None
    uidnext: int | None = None
    flags: tuple = ()
    permanentflags: tuple = ()
    readwrite: bool = False
    highestModseq: int | None = None  # RFC 7162; None with [NOMODSEQ] or without CONDSTORE
    vanished: tuple = ()  # R.Vanished (EARLIER) answers to a QRESYNC SELECT
    changed: tuple = ()  # R.Fetch answers to a QRESYNC SELECT


_SELECT_COLLECTS = (R.Exists, R.Recent, R.Flags, R.Status, R.Vanished, R.Fetch)


@dataclass
class _Pending:
    tag: str
    data: bytes
    deferred: defer.Deferred
    collect: tuple = ()
    untagged: list = field(default_factory=list)
    continuation: object = None  # callable(text) -> bytes | None, for AUTHENTICATE
    pieces: list = field(default_factory=list)  # what goes after each "+" (literals)


@dataclass(frozen=True)
class LiteralArgument:
    """A command argument sent as a literal (RFC 3501 4.3): message text, 8-bit strings."""

    data: bytes


_QUOTABLE = frozenset(range(0x20, 0x7F))
MAX_QUOTED = 1024
LITERAL_MINUS_MAX = 4096  # RFC 7888 LITERAL-: non-synchronizing up to this size


def _astring(value: str | bytes):
    """A quoted string (with escapes) where one can carry it, else a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) < MAX_QUOTED and all(b in _QUOTABLE for b in data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return LiteralArgument(data)


def mailboxName(name: str):
    return _astring(name.encode("imap4-utf-7"))


def _quiet(d: defer.Deferred) -> None:
    """Whoever waited has been told; an unobserved failure must not log noise."""
    d.addErrback(lambda f: None)


class IMAPClientProtocol(Protocol):
    log = Logger()
    _UNPARSABLE_LOGGED = 3  # per connection; the rest are counted

    def __init__(self, maxLiteralSize: int = DEFAULT_MAX_LITERAL):
        self.greeted: defer.Deferred = defer.Deferred()
        self.capabilities: frozenset = frozenset()
        self.enabled: frozenset = frozenset()
        self.onUntagged = lambda response: None
        self.onConnectionLost = None
        self.closeReason: str | None = None
        self.idling = False  # the server said "+" and DONE has not been sent
        self.unparsable = 0
        self._framer = ResponseFramer(self._dispatch, maxLiteralSize)
        self._tagCount = 0
        self._inFlight: dict[str, _Pending] = {}
        self._order: list[_Pending] = []  # in flight, oldest first (continuations go here)
        self._held: list[_Pending] = []  # asked for while an IDLE was in flight
        self._idleWanted = False
        self._idleCommand: _Pending | None = None
        self._idleStarted: defer.Deferred | None = None
        self._idleAnswered = False  # the "+" for the IDLE in flight has come
        self._doneSent = False
        self._idleStopWaiters: list[defer.Deferred] = []
        self._tlsStarting = False
        self._awaitingLiteral: _Pending | None = None  # sent up to a "{n}", waiting for "+"
        self._blocked: list[_Pending] = []  # to go out once that literal is sent

    @property
    def maxLiteralSize(self) -> int:
        return self._framer.maxLiteralSize

    # --- connection -----------------------------------------------------------------
    def connectionMade(self):
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass

    def connectionLost(self, reason=None):
        if self.closeReason is not None:
            reason = Failure(ResponseTooLarge(self.closeReason))
        pending = list(self._order) + list(self._held) + list(self._blocked)
        self._order, self._held, self._inFlight, self._blocked = [], [], {}, []
        self._awaitingLiteral = None
        self._idleWanted, self._idleCommand, self.idling = False, None, False
        waiting = [self.greeted, self._idleStarted, *self._idleStopWaiters]
        waiting += [p.deferred for p in pending]
        self._idleStarted, self._idleStopWaiters = None, []
        for d in waiting:
            if d is not None and not d.called:
                d.errback(reason)
                _quiet(d)
        if self.onConnectionLost is not None:
            self.onConnectionLost(reason)

    def dropConnection(self, why: str) -> None:
        """Close at once, remembering why (it becomes the failure of whatever waits)."""
        if self.closeReason is None:
            self.closeReason = why
            self.log.warn("Dropping the connection: {why}", why=why)
        self._framer.stop()
        if self.transport is not None:
            self.transport.abortConnection()

    # --- framing --------------------------------------------------------------------
    def dataReceived(self, data: bytes):
        problem = self._framer.feed(data)
        if problem is not None:
            self.dropConnection(problem)

    def _dispatch(self, line: bytes, literals: list[bytes]):
        try:
            response = R.parseResponse(line, literals)
        except (R.ResponseParseError, ValueError, IndexError) as e:
            self.unparsable += 1
            if self.unparsable <= self._UNPARSABLE_LOGGED:
                self.log.warn("Unparsable server response {line!r}: {error}", line=line[:200],
                              error=e)
            return
        if isinstance(response, R.Tagged):
            self._tagged(response)
        elif isinstance(response, R.Continuation):
            self._continued(response)
        else:
            self._untagged(response)
        if self._tlsStarting:
            # RFC 3207-style: nothing the server sent in plaintext after its OK may be read
            # as if it came over TLS.
            self._tlsStarting = False
            self._framer.discardBuffered()

    def _untagged(self, response):
        if not self.greeted.called:
            if isinstance(response, R.Status) and response.status == "BYE":
                self.greeted.errback(ConnectionRefusedError(f"server said BYE: {response.text}"))
                return
            self._takeCapabilities(response.code if isinstance(response, R.Status) else None)
            self.greeted.callback(response)
            return
        if isinstance(response, R.Capability):
            self.capabilities = response.names
        elif isinstance(response, R.Enabled):
            self.enabled = self.enabled | response.names
        elif isinstance(response, R.Status):
            self._takeCapabilities(response.code)
            if response.code and response.code[0] == "ALERT":
                self.log.warn("Server alert: {text}", text=response.text)
        for p in self._order:
            if p.collect and isinstance(response, p.collect):
                p.untagged.append(response)
                break
        try:
            self.onUntagged(response)
        except Exception:
            self.log.failure("onUntagged failed")

    def _takeCapabilities(self, code):
        if code and code[0] == "CAPABILITY" and len(code) > 1:
            self.capabilities = code[1]

    def _continued(self, response: R.Continuation):
        waiting = self._awaitingLiteral
        if waiting is not None:
            self.transport.write(waiting.pieces.pop(0))
            if not waiting.pieces:
                self._literalSent()
            return
        if self._idleCommand is not None:
            if self._idleAnswered:
                return
            self._idleAnswered = self.idling = True
            started, self._idleStarted = self._idleStarted, None
            if started is not None:
                started.callback(None)
            if self._held or not self._idleWanted:
                self._sendDone()
            return
        for p in self._order:
            if p.continuation is not None:
                answer = p.continuation(response.text)
                if answer is not None:
                    self.transport.write(answer + b"\r\n")
                return

    def _tagged(self, response: R.Tagged):
        p = self._inFlight.pop(response.tag, None)
        if p is None:
            self.log.warn("Tagged response for unknown tag {tag}", tag=response.tag)
            return
        self._order.remove(p)
        if p is self._awaitingLiteral:  # refused instead of "+": its literal never goes
            self._literalSent()
        self._takeCapabilities(response.code)
        if p is self._idleCommand:
            self._idleEnded(response)
        elif response.status == "OK":
            p.deferred.callback(CommandResult(response, p.untagged))
        else:
            p.deferred.errback(IMAPCommandError(response))
        self._maybeIdle()

    # --- IDLE: wanted, in flight, interrupted, resumed ----------------------------------
    def idle(self) -> defer.Deferred:
        """
        Idle until L{stopIdle}: fires when the server's C{+} says idling has begun, fails
        with L{IMAPCommandError} if the server refuses. Commands sent meanwhile interrupt
        the IDLE and it resumes after them.
        """
        if self._idleWanted:
            raise RuntimeError("already idling")
        self._idleWanted = True
        self._idleStarted = started = defer.Deferred()
        self._maybeIdle()
        return started

    def stopIdle(self) -> defer.Deferred:
        """Stop idling (DONE); fires with the IDLE's tagged result, or None if not in one."""
        self._idleWanted = False
        if self._idleCommand is None:
            started, self._idleStarted = self._idleStarted, None
            if started is not None and not started.called:
                started.cancel()
                _quiet(started)
            return defer.succeed(None)
        d = defer.Deferred()
        self._idleStopWaiters.append(d)
        if self._idleAnswered:
            self._sendDone()
        return d

    done = stopIdle

    @property
    def wantsIdle(self) -> bool:
        return self._idleWanted

    def _maybeIdle(self) -> None:
        if (not self._idleWanted or self._idleCommand is not None or self._order
                or self._held or self._blocked or self.transport is None
                or self.closeReason is not None):
            return
        tag = self._nextTag()
        p = _Pending(tag, tag.encode() + b" IDLE\r\n", defer.Deferred())
        _quiet(p.deferred)  # its outcome goes to idle() and stopIdle() callers
        self._idleCommand, self._idleAnswered, self._doneSent = p, False, False
        self._send(p)

    def _sendDone(self) -> None:
        if not self._doneSent:
            self._doneSent, self.idling = True, False
            self.transport.write(b"DONE\r\n")

    def _idleEnded(self, response: R.Tagged) -> None:
        answered = self._idleAnswered
        self._idleCommand, self._idleAnswered, self.idling = None, False, False
        if response.status != "OK" or not answered:
            self._idleWanted = False
            error = IMAPCommandError(response)
            started, self._idleStarted = self._idleStarted, None
            if started is not None:
                started.errback(error)
            elif response.status != "OK":
                self.log.warn("The server refused to resume IDLE: {text}", text=response.text)
        waiters, self._idleStopWaiters = self._idleStopWaiters, []
        for d in waiters:
            d.callback(CommandResult(response))
        held, self._held = self._held, []
        for h in held:
            self._send(h)

    # --- commands -------------------------------------------------------------------
    def _nextTag(self) -> str:
        self._tagCount += 1
        return "A%04d" % self._tagCount

    def _send(self, p: _Pending):
        if self._awaitingLiteral is not None:
            self._blocked.append(p)  # its line would land inside the awaited literal
            return
        self._inFlight[p.tag] = p
        self._order.append(p)
        self.transport.write(p.data)
        if p.pieces:
            self._awaitingLiteral = p

    def _literalSent(self) -> None:
        self._awaitingLiteral = None
        blocked, self._blocked = self._blocked, []
        for i, p in enumerate(blocked):
            self._send(p)
            if self._awaitingLiteral is not None:
                self._blocked = blocked[i + 1:] + self._blocked
                return

    def _nonSynchronizing(self, size: int) -> bool:
        caps = self.capabilities
        return "LITERAL+" in caps or ("LITERAL-" in caps and size <= LITERAL_MINUS_MAX)

    def _segments(self, tag: str, name: str, args) -> list[bytes]:
        """The command's octets, cut after each synchronizing literal's C{{n}}."""
        segments = [bytearray(tag.encode() + b" " + name.encode("ascii"))]
        for a in args:
            segments[-1] += b" "
            self._addArgument(segments, a)
        segments[-1] += b"\r\n"
        return [bytes(s) for s in segments]

    def _addArgument(self, segments: list[bytearray], a) -> None:
        if isinstance(a, str):
            a = _astring(a)
        if isinstance(a, tuple):  # a parenthesised list of arguments
            segments[-1] += b"("
            for i, item in enumerate(a):
                if i:
                    segments[-1] += b" "
                self._addArgument(segments, item)
            segments[-1] += b")"
        elif isinstance(a, LiteralArgument):
            size = len(a.data)
            if self._nonSynchronizing(size):
                segments[-1] += b"{%d+}\r\n" % size + a.data
            else:
                segments[-1] += b"{%d}\r\n" % size
                segments.append(bytearray(a.data))
        else:
            segments[-1] += a

    def sendCommand(self, name: str, *args, continuation=None, collect=()) -> defer.Deferred:
        """
        Send C{name} with C{args} (bytes are sent as they are, str are encoded as
        astrings, L{LiteralArgument}s as literals, tuples as parenthesised lists). Fires with a L{CommandResult} holding
        the untagged responses of the types in C{collect} (others go only to
        C{onUntagged}); fails with L{IMAPCommandError}. During IDLE, the IDLE is ended
        first and resumed after.
        """
        tag = self._nextTag()
        line, *pieces = self._segments(tag, name, args)
        p = _Pending(tag, line, defer.Deferred(), tuple(collect), continuation=continuation,
                     pieces=pieces)
        if self._idleCommand is not None:
            self._held.append(p)
            if self._idleAnswered:
                self._sendDone()
        else:
            self._send(p)
        return p.deferred

    @_returnsDeferred
    async def capability(self) -> frozenset:
        result = await self.sendCommand("CAPABILITY", collect=(R.Capability,))
        for r in result.untagged:
            self.capabilities = r.names
        return self.capabilities

    def login(self, user: str, password: str) -> defer.Deferred:
        return self.sendCommand("LOGIN", user, password)

    def authenticatePlain(self, user: str, password: str) -> defer.Deferred:
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        return self._authenticate(b"PLAIN", token)

    def authenticateXOAUTH2(self, user: str, accessToken: str) -> defer.Deferred:
        raw = f"user={user}\x01auth=Bearer {accessToken}\x01\x01".encode()
        # On failure the server sends a JSON error as a continuation; answer it empty.
        return self._authenticate(b"XOAUTH2", base64.b64encode(raw), onError=b"")

    def _authenticate(self, mechanism: bytes, token: bytes, onError: bytes | None = None):
        if "SASL-IR" in self.capabilities:
            state = {"answered": True}
            args = (mechanism, token)
        else:
            state = {"answered": False}
            args = (mechanism,)

        def answer(text):
            if not state["answered"]:
                state["answered"] = True
                return token
            return onError if onError is not None else b"*"

        return self.sendCommand("AUTHENTICATE", *args, continuation=answer)

    @_returnsDeferred
    async def enable(self, *names: str) -> frozenset:
        """RFC 5161 ENABLE; returns what the server says it enabled."""
        await self.sendCommand("ENABLE", *(n.encode("ascii") for n in names))
        return self.enabled

    @_returnsDeferred
    async def select(self, mailbox: str, readonly: bool = False,
                     parameters: bytes | None = None) -> MailboxState:
        """SELECT (or EXAMINE); C{parameters} such as C{b"(CONDSTORE)"} or a QRESYNC list."""
        args = [mailboxName(mailbox)] + ([parameters] if parameters else [])
        result = await self.sendCommand("EXAMINE" if readonly else "SELECT", *args,
                                        collect=_SELECT_COLLECTS)
        state = MailboxState()
        vanished, changed = [], []
        for r in result.untagged:
            if isinstance(r, R.Exists):
                state.exists = r.n
            elif isinstance(r, R.Recent):
                state.recent = r.n
            elif isinstance(r, R.Flags):
                state.flags = r.flags
            elif isinstance(r, R.Vanished):
                vanished.append(r)
            elif isinstance(r, R.Fetch):
                changed.append(r)
            elif isinstance(r, R.Status) and r.code:
                name = r.code[0]
                if name == "UIDVALIDITY":
                    state.uidvalidity = r.code[1]
                elif name == "UIDNEXT":
                    state.uidnext = r.code[1]
                elif name == "PERMANENTFLAGS":
                    state.permanentflags = r.code[1]
                elif name == "HIGHESTMODSEQ" and isinstance(r.code[1], int):
                    state.highestModseq = r.code[1]
                elif name == "NOMODSEQ":
                    state.highestModseq = None
        state.vanished, state.changed = tuple(vanished), tuple(changed)
        code = result.tagged.code
        state.readwrite = bool(code) and code[0] == "READ-WRITE"
        return state

    def noop(self) -> defer.Deferred:
        return self.sendCommand("NOOP")

    def logout(self) -> defer.Deferred:
        return self.sendCommand("LOGOUT")

    @_returnsDeferred
    async def uidSearch(self, criteria: str) -> list[int]:
        result = await self.sendCommand("UID SEARCH", criteria.encode(), collect=(R.Search,))
        found: list[int] = []
        for r in result.untagged:
            found.extend(r.numbers)
        return found

    @_returnsDeferred
    async def uidFetch(self, uidset: str, items: str, modifiers: str = "") -> dict[int, dict]:
        args = [uidset.encode(), items.encode()] + ([modifiers.encode()] if modifiers else [])
        result = await self.sendCommand("UID FETCH", *args, collect=(R.Fetch,))
        out: dict[int, dict] = {}
        for r in result.untagged:
            if isinstance(r.items.get("UID"), int):
                out.setdefault(r.items["UID"], {}).update(r.items)
        return out

    @_returnsDeferred
    async def status(self, mailbox: str, items: str = "(MESSAGES UIDNEXT UIDVALIDITY)") -> dict:
        result = await self.sendCommand("STATUS", mailboxName(mailbox), items.encode(),
                                        collect=(R.StatusItem,))
        for r in result.untagged:
            return r.items
        return {}

    @_returnsDeferred
    async def starttls(self, contextFactory) -> None:
        if self._order or self._held or self._idleWanted:
            raise RuntimeError("STARTTLS with commands in flight")
        d = self.sendCommand("STARTTLS")
        d.addCallback(self._startTLS, contextFactory)
        await d
        self.capabilities = frozenset()  # RFC 3501 6.2.1: forget what was said in plaintext

    def _startTLS(self, result, contextFactory):
        self._tlsStarting = True
        self.transport.startTLS(contextFactory)
        return result
