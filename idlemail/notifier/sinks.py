"""
Where notifier events go: a command (exec), an HTTP endpoint (webhook), a JSON-lines file,
or a Python callable. Each implements L{idlemail.notifier.interfaces.ISink}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import uuid

from twisted.internet import defer, error, protocol, task
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.client.events import EVENT_NAMES
from idlemail.settings import Table
from idlemail.errors import ConfigError
from idlemail.notifier.interfaces import ISink

log = Logger()
_OUTPUT_LIMIT = 4096  # octets of a command's output kept for the log


def eventEnvironment(event) -> dict[str, str]:
    """C{IDLEMAIL_EVENT}, C{IDLEMAIL_UID}, C{IDLEMAIL_MESSAGE_ID}, ... from the event."""
    env = {}
    for key, value in event.asJSON().items():
        name = "IDLEMAIL_" + key.upper().replace("-", "_").replace(".", "_")
        env[name] = " ".join(value) if isinstance(value, list) else str(value)
    return env


class _Child(protocol.ProcessProtocol):
    def __init__(self, stdin: bytes):
        self.stdin, self.output = stdin, bytearray()
        self.ended = defer.Deferred()

    def connectionMade(self):
        self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data):
        if len(self.output) < _OUTPUT_LIMIT:
            self.output += data[:_OUTPUT_LIMIT - len(self.output)]

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(reason.value)


@implementer(ISink)
class ExecSink:
    """
    Run C{argv} (no shell) per event: fields as C{IDLEMAIL_*} variables, the event's JSON
    on stdin. At most one run per (account, mailbox) at a time; events that arrive during a
    run are folded into one further run with the latest (C{IDLEMAIL_COALESCED} = how many).
    """

    def __init__(self, argv, timeout: float = 30.0, reactor=None, env=None,
                 wantsHeaders: bool = True):
        if reactor is None:
            from twisted.internet import reactor
        self.argv, self.timeout, self.reactor = list(argv), timeout, reactor
        self.env, self.wantsHeaders = dict(env or {}), wantsHeaders
        self.name = f"exec {self.argv[0]}"
        self._running: dict[tuple, defer.Deferred] = {}
        self._pending: dict[tuple, tuple] = {}  # key -> (latest event, folded count)
        self.runs = 0

    def deliver(self, event) -> defer.Deferred:
        key = (event.account, event.mailbox)
        if key in self._running:
            _, folded = self._pending.get(key, (None, 0))
            self._pending[key] = (event, folded + 1)
            return self._running[key]
        d = self._running[key] = defer.ensureDeferred(self._loop(key, event, 0))
        return d

    async def _loop(self, key, event, folded) -> bool:
        """Run until nothing is pending; False if any run failed (for the metrics)."""
        ok = True
        try:
            while event is not None:
                ok = await self._runOnce(event, folded) and ok
                event, folded = self._pending.pop(key, (None, 0))
                if event is not None:
                    folded -= 1  # the latest one is run, the others were folded into it
        finally:
            self._running.pop(key, None)
        return ok

    async def _runOnce(self, event, folded: int) -> bool:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "USER")}
        env.update(self.env)
        env.update(eventEnvironment(event))
        if folded:
            env["IDLEMAIL_COALESCED"] = str(folded)
        child = _Child(json.dumps(event.asJSON()).encode() + b"\n")
        self.runs += 1
        try:
            process = self.reactor.spawnProcess(child, self.argv[0], self.argv, env=env)
        except OSError as e:
            log.error("{sink}: cannot run: {error}", sink=self.name, error=e)
            return False
        killer = self.reactor.callLater(self.timeout, self._kill, process)
        reason = await child.ended
        if killer.active():
            killer.cancel()
        output = bytes(child.output).decode("utf-8", "replace").strip()
        if output:
            log.info("{sink}: {output}", sink=self.name, output=output)
        if isinstance(reason, error.ProcessTerminated):
            log.warn("{sink}: {event} exited with {code} (signal {sig})", sink=self.name,
                     event=event.event, code=reason.exitCode, sig=reason.signal)
            return False
        return True

    def _kill(self, process) -> None:
        log.warn("{sink}: still running after {t} s; terminating", sink=self.name, t=self.timeout)
        try:
            process.signalProcess("TERM")
        except error.ProcessExitedAlready:
            return
        self.reactor.callLater(5.0, self._hardKill, process)

    @staticmethod
    def _hardKill(process) -> None:
        try:
            process.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    def close(self) -> defer.Deferred:
        self._pending.clear()
        return defer.DeferredList(list(self._running.values()))


def idempotencyKey(event) -> str:
    if event.uid is not None:
        return f"{event.account}/{event.mailbox}/{event.uidvalidity}/{event.uid}/{event.event}"
    return str(uuid.uuid4())


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@implementer(ISink)
class WebhookSink:
    """POST the event as JSON; retried with backoff on connection errors, 5xx and 429."""

    def __init__(self, url: str, secret: str | None = None, timeout: float = 10.0,
                 retries: int = 5, backoff: float = 1.0, headers=None, reactor=None,
                 http=None, wantsHeaders: bool = True):
        if reactor is None:
            from twisted.internet import reactor
        if http is None:
            import treq as http
        self.url, self.secret, self.timeout = url, secret, timeout
        self.retries, self.backoff, self.headers = retries, backoff, dict(headers or {})
        self.reactor, self.http, self.wantsHeaders = reactor, http, wantsHeaders
        self.name = f"webhook {url}"
        self._inFlight: set = set()

    def deliver(self, event) -> defer.Deferred:
        d = defer.ensureDeferred(self._post(event))
        self._inFlight.add(d)
        d.addBoth(lambda r: (self._inFlight.discard(d), r)[1])
        return d

    async def _post(self, event) -> bool:
        key = idempotencyKey(event)
        body = json.dumps({**event.asJSON(), "id": key}).encode()
        headers = {"Content-Type": ["application/json"], "Idempotency-Key": [key],
                   "User-Agent": ["idlemail"]}
        for name, value in self.headers.items():
            headers[name] = [value]
        if self.secret:
            headers["X-Idlemail-Signature"] = [signature(self.secret, body)]
        for attempt in range(self.retries + 1):
            why = None
            try:
                response = await self.http.post(self.url, data=body, headers=headers,
                                                timeout=self.timeout, reactor=self.reactor)
                await response.content()  # release the connection
                code = response.code
                if 200 <= code < 300:
                    return True
                if code != 429 and code < 500:
                    log.error("{sink}: {event} refused with HTTP {code}; not retried",
                              sink=self.name, event=event.event, code=code)
                    return False
                why = f"HTTP {code}"
            except Exception as e:  # connection refused, timeout, TLS failure
                why = f"{e.__class__.__name__}: {e}"
            if attempt < self.retries:
                delay = self.backoff * (2 ** attempt)
                log.warn("{sink}: {why}; retry {n} in {delay} s", sink=self.name, why=why,
                         n=attempt + 1, delay=delay)
                await task.deferLater(self.reactor, delay, lambda: None)
        log.error("{sink}: giving up on {event} after {n} attempts: {why}", sink=self.name,
                  event=event.event, n=self.retries + 1, why=why)
        return False

    def close(self) -> defer.Deferred:
        for d in list(self._inFlight):
            d.cancel()
        return defer.succeed(None)


@implementer(ISink)
class JSONLinesSink:
    """One JSON object per line, appended to C{path} ("-" for standard output)."""

    def __init__(self, path: str = "-", wantsHeaders: bool = True):
        self.path, self.wantsHeaders = path, wantsHeaders
        self.name = f"jsonl {path}"
        self._file = None

    def deliver(self, event) -> defer.Deferred:
        line = json.dumps(event.asJSON(), ensure_ascii=False) + "\n"
        try:
            if self.path == "-":
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                if self._file is None:
                    self._file = open(self.path, "a", encoding="utf-8")
                self._file.write(line)
                self._file.flush()
        except OSError as e:
            log.error("{sink}: cannot write: {error}", sink=self.name, error=e)
        return defer.succeed(None)

    def close(self) -> defer.Deferred:
        if self._file is not None:
            self._file.close()
            self._file = None
        return defer.succeed(None)


@implementer(ISink)
class CallbackSink:
    """Call a Python callable (plain, returning a Deferred, or async) per event."""

    def __init__(self, callback, wantsHeaders: bool = True):
        self.callback, self.wantsHeaders = callback, wantsHeaders
        self.name = f"callback {getattr(callback, '__name__', callback)!s}"

    def deliver(self, event) -> defer.Deferred:
        def call():
            result = self.callback(event)
            if hasattr(result, "__await__") and not isinstance(result, defer.Deferred):
                return defer.ensureDeferred(result)
            return result
        # A failure is the relay's to log and count, as for every sink.
        return defer.maybeDeferred(call)

    def close(self) -> defer.Deferred:
        return defer.succeed(None)


_KINDS = ("exec", "webhook", "jsonl")


def buildSink(spec, path: str, prefix: str, reactor=None):
    """An L{ISink} from one config table, e.g. C{{kind = "exec", argv = [...]}}."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: {prefix}: expected a table such as {{ kind = \"jsonl\" }}")
    t = Table(spec, prefix, path)
    kind = t.get("kind", str, required=True)
    headers = t.get("headers", bool, True)
    # A command is for new mail unless asked otherwise; files and webhooks get everything.
    events = t.strings("events", ("message.new",) if kind == "exec" else ())
    unknown = set(events) - set(EVENT_NAMES)
    if unknown:
        raise t.error("events", f"unknown event {sorted(unknown)[0]!r} "
                                f"(use: {', '.join(EVENT_NAMES)})")
    # goimapnotify's onNewMailPost: run once every other sink has finished with the event.
    after = t.get("after", bool, False)
    sink = _build(kind, t, headers, reactor)
    sink.events = frozenset(events) or None
    sink.after = after
    return sink


def _build(kind: str, t: Table, headers: bool, reactor):
    if kind == "exec":
        argv = t.get("argv", list, required=True)
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise t.error("argv", "expected a non-empty list of strings")
        timeout = t.duration("timeout", 30.0)
        env = t.get("env", dict, {})
        t.rejectUnknown()
        return ExecSink(argv, timeout, reactor, env={k: str(v) for k, v in env.items()},
                        wantsHeaders=headers)
    if kind == "webhook":
        url = t.get("url", str, required=True)
        if not url.startswith(("http://", "https://")):
            raise t.error("url", "expected an http:// or https:// URL")
        secret = t.get("secret", str)
        timeout = t.duration("timeout", 10.0)
        retries = t.get("retries", int, 5)
        if retries < 0:
            raise t.error("retries", "must not be negative")
        backoff = t.duration("backoff", 1.0)
        extra = t.get("http_headers", dict, {})
        t.rejectUnknown()
        return WebhookSink(url, secret, timeout, retries, backoff, extra, reactor,
                           wantsHeaders=headers)
    if kind == "jsonl":
        out = t.get("path", str, "-")
        t.rejectUnknown()
        return JSONLinesSink(out, wantsHeaders=headers)
    raise t.error("kind", f"unknown sink kind {kind!r} (use one of: {', '.join(_KINDS)})")


def checkSink(spec, path: str, prefix: str) -> None:
    """Validate a sink table without building anything that runs."""
    buildSink(spec, path, prefix, reactor=object())
