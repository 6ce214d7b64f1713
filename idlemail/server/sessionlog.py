"""
The server's log lines about sessions, one line per event, in a form fail2ban and people
can read (user, remote IP and port; values an attacker chooses are escaped, so one line is
always one line)::

    login: user=<alice> rip=203.0.113.5 rport=51234 method=LOGIN tls=yes
    login failed: user=<alice> rip=203.0.113.5 rport=51234 method=LOGIN reason=bad credentials
    login refused: user=<alice> rip=203.0.113.5 rport=51234 method=LOGIN reason=too many connections
    logout: user=<alice> rip=203.0.113.5 rport=51234 session=93.2s

A fail2ban filter needs one line: C{failregex = login failed: user=<\\S*> rip=<HOST> }.

An unexpected failure (a bug) is logged with its traceback the first time a connection
hits it; the same failure again on that connection is only counted, and the count is
logged once when the connection ends, so a client cannot fill the disk with tracebacks.
"""

from __future__ import annotations

from twisted.logger import Logger

log = Logger(namespace="idlemail.server")

#: Kinds of unexpected failure counted per connection at most (more are counted as one).
MAX_FAILURE_KINDS = 16


def safe(text: str) -> str:
    """C{text} with spaces, angle brackets and anything unprintable escaped (C{\\xNN})."""
    if text.isprintable() and not any(c in text for c in " <>\\"):
        return text
    return "".join(c if c.isprintable() and c not in " <>\\" else f"\\x{ord(c):02x}"
                   for c in text)


def _where(session) -> dict:
    host, port = session.peer
    return {"rip": host or "-", "rport": port if port is not None else "-"}


def loggedIn(session, method: str) -> None:
    log.info("login: user=<{user}> rip={rip} rport={rport} method={method} tls={tls}",
             user=safe(session.user), method=method, tls="yes" if session.tlsActive else "no",
             **_where(session))


def loginFailed(session, user: str, method: str, reason: str) -> None:
    log.info("login failed: user=<{user}> rip={rip} rport={rport} method={method} "
             "reason={reason}", user=safe(user), method=method, reason=reason,
             **_where(session))


def loginRefused(session, user: str, method: str, reason: str) -> None:
    """The password was right, but the login is refused (a limit): no line for fail2ban."""
    log.info("login refused: user=<{user}> rip={rip} rport={rport} method={method} "
             "reason={reason}", user=safe(user), method=method, reason=reason,
             **_where(session))


def loggedOut(session, seconds: float) -> None:
    log.info("logout: user=<{user}> rip={rip} rport={rport} session={seconds:.1f}s",
             user=safe(session.user), seconds=seconds, **_where(session))


class RefusalLog:
    """
    Refused connections, one line per address per minute at most (an attacker at the
    limit reconnects as fast as it can): the line says how many were refused unsaid.
    """

    def __init__(self, clock, interval: float = 60.0, maxAddresses: int = 4096):
        self.clock, self.interval, self.maxAddresses = clock, interval, maxAddresses
        self._last: dict[str, list] = {}  # host -> [when last said, refused since]

    def refused(self, host: str, reason: str) -> None:
        now = self.clock.seconds()
        last = self._last.get(host)
        if last is not None and now - last[0] < self.interval:
            last[1] += 1
            return
        unsaid = last[1] if last is not None else 0
        self._last.pop(host, None)
        self._last[host] = [now, 0]
        if len(self._last) > self.maxAddresses:
            del self._last[next(iter(self._last))]
        log.info("connection refused: rip={rip} reason={reason} (and {unsaid} more since "
                 "the last such line)", rip=host, reason=reason, unsaid=unsaid)


class RepeatedFailures:
    """The unexpected failures of one connection, by kind: the first logged, the rest counted."""

    __slots__ = ("counts",)

    def __init__(self):
        self.counts: dict[tuple, list] = {}  # kind -> [not logged yet, what]

    def report(self, failure, what: str, session) -> None:
        kind = _kind(failure)
        seen = self.counts.get(kind)
        if seen is None and len(self.counts) >= MAX_FAILURE_KINDS:
            seen = self.counts.setdefault(("more",), [0, "other kinds"])
        if seen is not None:
            seen[0] += 1
            return
        self.counts[kind] = [0, f"{what}: {failure.type.__name__}"]
        log.failure("{what} failed unexpectedly (rip={rip} rport={rport}; repeats on this "
                    "connection are only counted)", failure, what=what, **_where(session))

    def summary(self, session) -> None:
        for count, what in self.counts.values():
            if count:
                log.warn("{count} more unexpected failures of {what} (rip={rip} rport={rport})",
                         count=count, what=what, **_where(session))


def _kind(failure) -> tuple:
    # The same exception raised at the same place is the same failure.
    where = tuple(failure.frames[-1][1:3]) if failure.frames else ()
    return (failure.type, where)
