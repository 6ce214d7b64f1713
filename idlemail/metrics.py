"""
Prometheus metrics of one idlemail service, on a registry of its own (never the process-wide
default one, so that one process can run several servers, as the tests do).

Two kinds:

 - B{Read at scrape time} from live state, with no hook in hot code: connections by
   protocol state and idlers (from the server factory's C{sessions}), open folders and
   inotify watches (from the Maildir backend's C{folders}). Registered with
   L{Metrics.watchServer} and L{Metrics.watchBackend}.
 - B{Counted as things happen}, by one-line calls from the code where they happen::

     factory.metrics.pushSent(n)                 # n untagged updates written to idlers
     factory.metrics.pushLatency(seconds)        # change published -> bytes written
     factory.metrics.login(ok)                   # each LOGIN/AUTHENTICATE answered
     factory.metrics.command("FETCH", "OK")      # each tagged answer: OK, NO or BAD
     notifier.metrics.notifierEvent("message.new")  # each event handed to the sinks
     notifier.metrics.sinkFailure("webhook")     # each failed delivery, by sink kind

Code that may run without metrics holds L{NO_METRICS}, whose methods do nothing, so a call
site needs no C{if}.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

import idlemail

#: Change published -> bytes written: sub-millisecond for one idler, up to seconds for
#: 10,000 idlers of one mailbox (README, Performance).
PUSH_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                        1.0, 2.5, 5.0)
#: A client chooses the command names it sends: beyond this many names other than the
#: known ones, and for anything that does not look like a name, the label is "OTHER".
MAX_LABEL_VALUES = 64
#: RFC 3501 section 6 and the extensions in our CAPABILITY: always counted by name.
IMAP_COMMANDS = ("CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN",
                 "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
                 "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE",
                 "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "UID", "IDLE", "MOVE",
                 "UNSELECT", "ID", "NAMESPACE", "ENABLE")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,31}$")
_STATES = ("not authenticated", "authenticated", "selected")


class _BoundedLabel:
    """Label values as given while they look sane and are few; "OTHER" after that."""

    def __init__(self, known=(), limit: int = MAX_LABEL_VALUES):
        self.known, self.limit, self.seen = frozenset(known), limit, set()

    def __call__(self, value: str, upper: bool = False) -> str:
        value = str(value).upper() if upper else str(value)
        if value in self.known or value in self.seen:
            return value
        if not _NAME.match(value) or len(self.seen) >= self.limit:
            return "OTHER"
        self.seen.add(value)
        return value


class Metrics:
    """The metrics of one service; C{registry} is what the scrape endpoint serves."""

    def __init__(self, registry: CollectorRegistry | None = None, processStats: bool = True):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._pushes = Counter("idlemail_pushes", "Untagged updates written to idling clients",
                               registry=r)
        self._pushLatency = Histogram(
            "idlemail_push_latency_seconds",
            "From a mailbox change being published to its update written to an idler",
            buckets=PUSH_LATENCY_BUCKETS, registry=r)
        self._logins = Counter("idlemail_logins", "Logins answered, by result", ["result"],
                               registry=r)
        self._commands = Counter("idlemail_commands", "IMAP commands answered, by name and result",
                                 ["command", "result"], registry=r)
        self._events = Counter("idlemail_notifier_events", "Notifier events, by kind", ["kind"],
                               registry=r)
        self._sinkFailures = Counter("idlemail_notifier_sink_failures",
                                     "Failed sink deliveries, by sink kind", ["sink"], registry=r)
        for result in ("ok", "failed"):
            self._logins.labels(result)
        self._commandName = _BoundedLabel(IMAP_COMMANDS)
        self._eventKind, self._sinkKind = _BoundedLabel(), _BoundedLabel()
        self._live = _LiveState()
        r.register(self._live)
        if processStats:  # resident memory, CPU seconds, open fds of this process
            ProcessCollector(registry=r)

    # Counted as things happen.

    def pushSent(self, count: int = 1) -> None:
        self._pushes.inc(count)

    def pushLatency(self, seconds: float) -> None:
        self._pushLatency.observe(seconds)

    def login(self, ok: bool) -> None:
        self._logins.labels("ok" if ok else "failed").inc()

    def command(self, name: str, result: str) -> None:
        """C{result}: the tagged status, C{"OK"}, C{"NO"} or C{"BAD"}."""
        result = result.upper() if result.upper() in ("OK", "NO", "BAD") else "OTHER"
        self._commands.labels(self._commandName(name, upper=True), result).inc()

    def notifierEvent(self, kind: str) -> None:
        self._events.labels(self._eventKind(kind)).inc()

    def sinkFailure(self, sink: str) -> None:
        self._sinkFailures.labels(self._sinkKind(sink)).inc()

    # Read at scrape time.

    def watchServer(self, factory) -> None:
        """Report the connections of C{factory} (an L{IMAPServerFactory}) at each scrape."""
        self._live.factories.append(factory)

    def watchBackend(self, backend) -> None:
        """Report open folders and watches of C{backend}, if it keeps them (Maildir)."""
        if hasattr(backend, "folders"):
            self._live.backends.append(backend)


class NoMetrics:
    """The methods of L{Metrics}, doing nothing: for code that runs without metrics."""

    def pushSent(self, count: int = 1) -> None:
        pass

    def pushLatency(self, seconds: float) -> None:
        pass

    def login(self, ok: bool) -> None:
        pass

    def command(self, name: str, result: str) -> None:
        pass

    def notifierEvent(self, kind: str) -> None:
        pass

    def sinkFailure(self, sink: str) -> None:
        pass


NO_METRICS = NoMetrics()


class _LiveState:
    """A collector that reads the servers and backends it is given, at each scrape."""

    def __init__(self):
        self.factories: list = []
        self.backends: list = []

    def collect(self):
        info = GaugeMetricFamily("idlemail_build_info", "idlemail's version", labels=["version"])
        info.add_metric([idlemail.__version__], 1)
        yield info
        states = dict.fromkeys(_STATES, 0)
        idlers = 0
        for factory in self.factories:
            for session in list(factory.sessions):
                states[session.state] = states.get(session.state, 0) + 1
                idlers += session.idlingSince is not None
        connections = GaugeMetricFamily("idlemail_connections", "Open IMAP connections, by state",
                                        labels=["state"])
        for state, count in states.items():
            connections.add_metric([state.replace(" ", "_")], count)
        yield connections
        yield GaugeMetricFamily("idlemail_idlers", "Connections in IDLE", value=idlers)
        if self.backends:
            yield from self._folders()

    def _folders(self):
        folders = watches = polled = 0
        for backend in self.backends:
            for opened in list(backend.folders.values()):
                folders += 1
                watch = getattr(opened, "watch", None)
                watches += len(getattr(watch, "watched", ()))
                polled += getattr(watch, "poller", None) is not None
        yield GaugeMetricFamily("idlemail_open_folders", "Maildir folders open in this process",
                                value=folders)
        yield GaugeMetricFamily("idlemail_inotify_watches", "inotify watches in use",
                                value=watches)
        yield GaugeMetricFamily("idlemail_polled_folders",
                                "Open folders polled because inotify was not available",
                                value=polled)
