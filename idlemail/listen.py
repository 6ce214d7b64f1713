"""
Server endpoint strings (C{tcp:1143:interface=127.0.0.1}, C{ssl:993:privateKey=...},
C{systemd:domain=INET:index=0}): a listen backlog that survives a reconnect storm, and one
readable line for every way such a string, or listening on it, can go wrong.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import ServerFactory

from idlemail.errors import ConfigError
from idlemail.settings import didYouMean

#: Twisted's default of 50 overflowed when 5,000 clients reconnected at once (issue 12):
#: the kernel dropped SYNs and some clients hung at the greeting for over a minute.
DEFAULT_BACKLOG = 1024
EXAMPLE = '"tcp:1143:interface=127.0.0.1"'

# The options each endpoint type documents (twisted.internet.endpoints.serverFromString),
# for "did you mean" on a typo.
_OPTIONS = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "interface", "backlog"),
    "ssl": ("port", "privateKey", "certKey", "sslmethod", "interface", "backlog",
            "extraCertChain", "dhParameters"),
    "unix": ("address", "mode", "backlog", "lockfile"),
    "systemd": ("domain", "index", "name"),
}
_WITH_BACKLOG = frozenset({"tcp", "tcp6", "ssl", "unix"})
_SEPARATOR = re.compile(r"(?<!\\):")


class StartupError(ConfigError):
    """Something the config names cannot be had at start (a port, a file): one line."""


class ListeningService(StreamServerEndpointService):
    """
    Listens on one endpoint string when started. The string is parsed at once (a bad one
    is a L{ConfigError} before anything starts); failing to listen raises L{StartupError}
    with one line, synchronously, so that the process can stop before doing anything else.
    """

    def __init__(self, description: str, factory, where: str, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        super().__init__(serverEndpoint(reactor, description, where), factory)
        self.description, self.where = description, where
        self._raiseSynchronously = True

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except Exception as e:
            raise StartupError(listenProblem(self.description, self.where, e)) from None


@dataclass(frozen=True)
class BoundSocket:
    """A listening socket opened once by the parent for its workers (L{idlemail.workers})."""
    port: object  # the IListeningPort, not accepting
    fd: int
    family: int
    description: str


class _NobodyHere(ServerFactory):
    """The parent never accepts on a socket it holds for its workers."""
    noisy = False

    def logPrefix(self) -> str:  # "... starting on 1143" in the parent's log
        return "Socket for the workers"


def bindForWorkers(description: str, where: str, reactor=None) -> BoundSocket:
    """
    Listen on C{description} as a single process would (every endpoint type, its backlog,
    the same one-line errors: L{ConfigError} for a bad string, L{StartupError} when it
    cannot listen), then stop accepting: the workers adopt the socket and accept on it.
    """
    if reactor is None:
        from twisted.internet import reactor
    endpoint = serverEndpoint(reactor, description, where)
    outcome: list = []
    endpoint.listen(_NobodyHere()).addBoth(outcome.append)
    if not outcome:  # no stream endpoint we know of listens later than at once
        raise StartupError(f"{where}: {description!r}: cannot hand this endpoint to workers")
    if not hasattr(outcome[0], "stopReading"):
        raise StartupError(listenProblem(description, where, outcome[0].value))
    port = outcome[0]
    port.stopReading()
    return BoundSocket(port, port.fileno(), port.socket.family, description)


class AdoptedListeningService(Service):
    """
    A worker's side of a L{BoundSocket}: accept on the listening socket with the given
    C{fd} (inherited from the parent; IReactorSocket.adoptStreamPort). An C{ssl:} string is
    parsed again here for its certificate, and the connections wrapped in TLS as Twisted's
    own ssl: endpoint does.
    """

    def __init__(self, fd: int, family: int, description: str, factory, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.fd, self.family, self.description = fd, family, description
        self.factory, self.reactor = factory, reactor
        self.tls = None
        if description.startswith("ssl:"):
            self.tls = tlsContextOf(serverEndpoint(reactor, description, "worker socket"))
        self.port = None

    def startService(self) -> None:
        super().startService()
        factory = self.factory
        if self.tls is not None:
            from twisted.protocols.tls import TLSMemoryBIOFactory
            factory = TLSMemoryBIOFactory(self.tls, False, factory)
        # adoptStreamPort takes a duplicate; the inherited descriptor is ours to close.
        self.port = self.reactor.adoptStreamPort(self.fd, self.family, factory)
        os.close(self.fd)

    def stopService(self):
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()


def tlsContextOf(endpoint):
    """The TLS context an C{ssl:} server endpoint wraps its connections in, else None."""
    from twisted.internet.endpoints import SSL4ServerEndpoint
    if isinstance(endpoint, SSL4ServerEndpoint):
        return endpoint._sslContextFactory  # no public accessor; pinned by tests/test_workers
    return None


def withBacklog(description: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """C{description} with C{backlog=N} added, unless it sets one or its type has none."""
    parts = _SEPARATOR.split(description)
    if parts[0] not in _WITH_BACKLOG or any(p.startswith("backlog=") for p in parts[1:]):
        return description
    return f"{description}:backlog={backlog}"


def serverEndpoint(reactor, description: str, where: str):
    """
    Parse a server endpoint string (with the default backlog); a bad one raises
    L{ConfigError} with one line naming C{where} (the key or option) and the string.
    """
    from twisted.internet.endpoints import serverFromString
    try:
        return serverFromString(reactor, withBacklog(description))
    except Exception as e:  # Twisted raises what its parsers happen to raise
        raise ConfigError(f"{where}: {description!r}: {_parseProblem(description, e)}") from None


def listenProblem(description: str, where: str, failure: Exception) -> str:
    """One line saying why listening on C{description} failed, with a hint."""
    if not isinstance(failure, CannotListenError):  # e.g. OverflowError for port 99999
        return f"{where}: {description!r}: cannot listen: {failure}"
    error = failure.socketError
    code = getattr(error, "errno", None)
    address = f"{failure.interface or '*'}:{failure.port}"
    if code == errno.EADDRINUSE:
        text = ("address already in use (is another idlemail or IMAP server running? "
                "stop it or choose another port)")
    elif code == errno.EACCES:
        text = ("permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; "
                "or let systemd open the port: contrib/idlemail.socket)")
    elif code == errno.EADDRNOTAVAIL:
        text = "no such local address (check interface=)"
    else:
        text = getattr(error, "strerror", None) or str(error)
    return f"{where}: {description!r}: cannot listen on {address}: {text}"


def _parseProblem(description: str, e: Exception) -> str:
    kind = description.split(":", 1)[0]
    text = str(e)
    if m := re.match(r"Unknown endpoint type: '(.*)'", text):
        return (f"unknown endpoint type {m.group(1)!r}"
                + (didYouMean(m.group(1), _OPTIONS) or f" (use e.g. {EXAMPLE})"))
    if m := re.match(r"invalid literal for int\(\) with base 10: '(.*)'", text):
        what = f"{m.group(1)!r} is not a number" if m.group(1) else "the port is missing"
        return f"{what} (use e.g. {EXAMPLE})"
    if m := re.search(r"unexpected keyword argument '(.*)'", text):
        known = _OPTIONS.get(kind, ())
        hint = didYouMean(m.group(1), known) or (f" (it takes {', '.join(known)})" if known else "")
        return f"{kind}: has no option {m.group(1)!r}{hint}"
    if isinstance(e, TypeError) and "required positional argument" in text:
        return f"{kind}: needs more (use e.g. {EXAMPLE})"
    if isinstance(e, OSError) and e.filename:
        hint = (" (privateKey= names a PEM file with the key and the certificate)"
                if kind == "ssl" else "")
        return f"cannot read {e.filename}: {e.strerror}{hint}"
    if kind == "ssl":
        keys = [p.split("=", 1)[1] for p in _SEPARATOR.split(description)
                if p.startswith(("privateKey=", "certKey="))] or ["server.pem"]
        return f"{' or '.join(keys)}: not a PEM key and certificate ({e.__class__.__name__})"
    if kind == "systemd" and isinstance(e, (IndexError, KeyError)):
        return ("systemd passed no such socket (it passes them in LISTEN_FDS and "
                "LISTEN_FDNAMES); start idlemail from a socket unit such as "
                "contrib/idlemail.socket")
    return text or e.__class__.__name__
