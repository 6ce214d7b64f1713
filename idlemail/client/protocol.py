"""
IMAPClientProtocol: an IMAP4rev1 client on LineReceiver, sharing idlemail's wire layer.

- One Deferred per tagged command; commands may be pipelined.
- Every untagged response is handed to C{onUntagged} the moment it is read, whatever
  command is in flight, and also collected into that command's result.
- Literals of any size are read in raw mode: no line-length limit on server data.
- While IDLE is in progress (from sending IDLE until its tagged response), nothing else is
  written: commands asked for meanwhile wait in a queue and go out after the IDLE ends
  (RFC 2177: the client must not send commands while the server waits for DONE).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec (a pure helper)
from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver

from idlemail.wire import response as R
from idlemail.wire.encode import string

_LITERAL = re.compile(rb"\{(\d+)\}$")


def _returnsDeferred(fn):
    """Let callers of an C{async def} method use Deferred API (e.g. C{addTimeout})."""
    import functools

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


@dataclass
class _Pending:
    tag: str
    data: bytes
    deferred: defer.Deferred
    untagged: list = field(default_factory=list)
    continuation: object = None  # callable(text) -> bytes | None, for AUTHENTICATE


def _astring(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return string(data)


def mailboxName(name: str) -> bytes:
    return _astring(name.encode("imap4-utf-7"))


class IMAPClientProtocol(LineReceiver):
    delimiter = b"\r\n"
    MAX_LENGTH = 16 * 1024 * 1024  # a line without its literals; literals are unbounded
    log = Logger()

    def __init__(self):
        self.greeted: defer.Deferred = defer.Deferred()
        self.capabilities: frozenset = frozenset()
        self.onUntagged = lambda response: None
        self.onConnectionLost = None
        self.idling = False
        self._tagCount = 0
        self._inFlight: dict[str, _Pending] = {}
        self._order: list[_Pending] = []  # in flight, oldest first (continuations go here)
        self._held: list[_Pending] = []  # asked for during IDLE
        self._idle: _Pending | None = None
        self._idleStarted: defer.Deferred | None = None
        self._line = b""
        self._literals: list[bytes] = []
        self._literalLeft = 0
        self._literalBuf = bytearray()

    # --- connection -----------------------------------------------------------------
    def connectionMade(self):
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass

    def connectionLost(self, reason=None):
        pending = list(self._order) + list(self._held)
        self._order, self._held, self._inFlight = [], [], {}
        if not self.greeted.called:
            self.greeted.errback(reason)
        if self._idleStarted is not None and not self._idleStarted.called:
            self._idleStarted.errback(reason)
        for p in pending:
            if not p.deferred.called:
                p.deferred.errback(reason)
                # Whoever waited has been told; an IDLE nobody ended must not log noise.
                p.deferred.addErrback(lambda f: None)
        if self.onConnectionLost is not None:
            self.onConnectionLost(reason)

    # --- framing --------------------------------------------------------------------
    def lineReceived(self, line: bytes):
        self._line += line
        m = _LITERAL.search(line)
        if m is not None:
            self._literalLeft = int(m.group(1))
            self._literalBuf = bytearray()
            if self._literalLeft == 0:
                self._literals.append(b"")
                return
            self.setRawMode()
            return
        whole, literals = self._line, self._literals
        self._line, self._literals = b"", []
        self._dispatch(whole, literals)

    def rawDataReceived(self, data: bytes):
        take = data[:self._literalLeft]
        self._literalBuf += take
        self._literalLeft -= len(take)
        if self._literalLeft == 0:
            self._literals.append(bytes(self._literalBuf))
            self._literalBuf = bytearray()
            self.setLineMode(data[len(take):])

    def lineLengthExceeded(self, line):
        self.log.warn("Server line over {n} octets; dropping the connection", n=self.MAX_LENGTH)
        self.transport.loseConnection()

    def _dispatch(self, line: bytes, literals: list[bytes]):
        try:
            response = R.parseResponse(line, literals)
        except (R.ResponseParseError, ValueError, IndexError) as e:
            self.log.warn("Unparsable server response {line!r}: {error}", line=line[:200],
                          error=e)
            return
        if isinstance(response, R.Tagged):
            self._tagged(response)
        elif isinstance(response, R.Continuation):
            self._continued(response)
        else:
            self._untagged(response)

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
        elif isinstance(response, R.Status):
            self._takeCapabilities(response.code)
            if response.code and response.code[0] == "ALERT":
                self.log.warn("Server alert: {text}", text=response.text)
        if self._order:
            self._order[0].untagged.append(response)
        try:
            self.onUntagged(response)
        except Exception:
            self.log.failure("onUntagged failed")

    def _takeCapabilities(self, code):
        if code and code[0] == "CAPABILITY" and len(code) > 1:
            self.capabilities = code[1]

    def _continued(self, response: R.Continuation):
        if self._idle is not None and self._idleStarted is not None:
            self.idling = True
            d, self._idleStarted = self._idleStarted, None
            d.callback(None)
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
        self._takeCapabilities(response.code)
        if p is self._idle:
            self._idle, self.idling = None, False
            if self._idleStarted is not None:
                d, self._idleStarted = self._idleStarted, None
                d.errback(IMAPCommandError(response))
                p.deferred.addErrback(lambda f: None)  # reported through idle() instead
            held, self._held = self._held, []
            for h in held:
                self._send(h)
        if response.status == "OK":
            p.deferred.callback(CommandResult(response, p.untagged))
        else:
            p.deferred.errback(IMAPCommandError(response))

    # --- commands -------------------------------------------------------------------
    def _nextTag(self) -> str:
        self._tagCount += 1
        return "A%04d" % self._tagCount

    def _send(self, p: _Pending):
        self._inFlight[p.tag] = p
        self._order.append(p)
        self.transport.write(p.data)

    def sendCommand(self, name: str, *args, continuation=None) -> defer.Deferred:
        """
        Send C{name} with C{args} (bytes are sent as they are, str are encoded as
        astrings). Fires with a L{CommandResult}, fails with L{IMAPCommandError}.
        """
        parts = [name.encode("ascii")]
        for a in args:
            parts.append(a if isinstance(a, bytes) else _astring(a))
        tag = self._nextTag()
        line = tag.encode() + b" " + b" ".join(parts) + b"\r\n"
        p = _Pending(tag, line, defer.Deferred(), continuation=continuation)
        if self._idle is not None:
            self._held.append(p)
        else:
            self._send(p)
        return p.deferred

    @_returnsDeferred
    async def capability(self) -> frozenset:
        result = await self.sendCommand("CAPABILITY")
        for r in result.untagged:
            if isinstance(r, R.Capability):
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
    async def select(self, mailbox: str, readonly: bool = False) -> MailboxState:
        result = await self.sendCommand("EXAMINE" if readonly else "SELECT", mailboxName(mailbox))
        state = MailboxState()
        for r in result.untagged:
            if isinstance(r, R.Exists):
                state.exists = r.n
            elif isinstance(r, R.Recent):
                state.recent = r.n
            elif isinstance(r, R.Flags):
                state.flags = r.flags
            elif isinstance(r, R.Status) and r.code:
                name = r.code[0]
                if name == "UIDVALIDITY":
                    state.uidvalidity = r.code[1]
                elif name == "UIDNEXT":
                    state.uidnext = r.code[1]
                elif name == "PERMANENTFLAGS":
                    state.permanentflags = r.code[1]
        code = result.tagged.code
        state.readwrite = bool(code) and code[0] == "READ-WRITE"
        return state

    def noop(self) -> defer.Deferred:
        return self.sendCommand("NOOP")

    def logout(self) -> defer.Deferred:
        return self.sendCommand("LOGOUT")

    @_returnsDeferred
    async def uidSearch(self, criteria: str) -> list[int]:
        result = await self.sendCommand("UID SEARCH", criteria.encode())
        found: list[int] = []
        for r in result.untagged:
            if isinstance(r, R.Search):
                found.extend(r.numbers)
        return found

    @_returnsDeferred
    async def uidFetch(self, uidset: str, items: str) -> dict[int, dict]:
        result = await self.sendCommand("UID FETCH", uidset.encode(), items.encode())
        out: dict[int, dict] = {}
        for r in result.untagged:
            if isinstance(r, R.Fetch) and isinstance(r.items.get("UID"), int):
                out.setdefault(r.items["UID"], {}).update(r.items)
        return out

    @_returnsDeferred
    async def status(self, mailbox: str, items: str = "(MESSAGES UIDNEXT UIDVALIDITY)") -> dict:
        result = await self.sendCommand("STATUS", mailboxName(mailbox), items.encode())
        for r in result.untagged:
            if isinstance(r, R.StatusItem):
                return r.items
        return {}

    @_returnsDeferred
    async def starttls(self, contextFactory) -> None:
        if self._order or self._held:
            raise RuntimeError("STARTTLS with commands in flight")
        await self.sendCommand("STARTTLS")
        self.transport.startTLS(contextFactory)
        self.capabilities = frozenset()  # RFC 3501 6.2.1: forget what was said in plaintext

    def idle(self) -> defer.Deferred:
        """Send IDLE; fires when the server's C{+} says idling has begun."""
        if self._idle is not None:
            raise RuntimeError("already idling")
        self._idleStarted = started = defer.Deferred()
        tag = self._nextTag()
        p = _Pending(tag, tag.encode() + b" IDLE\r\n", defer.Deferred())
        self._idle = p
        self._send(p)
        return started

    def done(self) -> defer.Deferred:
        """End IDLE; fires with the IDLE's tagged result."""
        p = self._idle
        if p is None:
            return defer.succeed(None)
        self.transport.write(b"DONE\r\n")
        return p.deferred
