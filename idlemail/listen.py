"""
Server endpoint strings (C{tcp:1143:interface=127.0.0.1}, C{ssl:993:privateKey=...},
C{systemd:domain=INET:index=0}): a listen backlog that survives a reconnect storm, and one
readable line for every way such a string, or listening on it, can go wrong.
"""

from __future__ import annotations

import errno
import re

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.error import CannotListenError

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
