"""
The top service of C{twistd idlemail}. It starts its children (metrics, server, notifier:
every endpoint listens first), turns a failure into one line and an exit, and only once
everything listens runs what must wait for success (creating the demo user, the banner)
and tells systemd it is ready.
"""

from __future__ import annotations

import os
import socket
import sys

from twisted.application.service import MultiService
from twisted.logger import Logger

from idlemail.errors import ConfigError

log = Logger()


def sdNotify(state: str, environ=None) -> bool:
    """
    Tell systemd our state (C{"READY=1"}, C{"STOPPING=1"}) when it asked for it by setting
    C{NOTIFY_SOCKET} (C{Type=notify}): one datagram, as sd_notify(3) sends it.
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(state.encode(), address)
    except OSError as e:
        log.warn("Cannot tell systemd {state}: {error}", state=state, error=e)
        return False
    return True


def exitWithOneLine(line: str, twistdOptions=None) -> None:
    """
    Stop the process before the reactor runs: C{line} on stderr (in the log as well for a
    daemon, whose stderr is gone), no pid file left behind, exit status 1.
    """
    options = twistdOptions if twistdOptions is not None else {}
    if options.get("nodaemon", True):
        sys.__stderr__.write(f"idlemail: {line}\n")
        sys.__stderr__.flush()
    else:
        log.critical("idlemail: {line}", line=line)
    statusPipe = options.get("statusPipe")
    if statusPipe is not None:
        # A daemon's parent waits on this pipe and prints what it reads (at most 100 bytes).
        os.write(statusPipe, f"1 idlemail: {line}".encode("ascii", "backslashreplace")[:100])
        os.close(statusPipe)
    pidfile = options.get("pidfile")
    if pidfile:
        try:
            with open(pidfile) as f:
                if int(f.read().strip() or 0) == os.getpid():
                    os.unlink(pidfile)
        except (OSError, ValueError):
            pass
    raise SystemExit(1)


class StartupService(MultiService):
    """
    C{whenStarted}: callables run once every child has started (all endpoints listen).
    C{onFailure(line)}: what to do with a L{ConfigError} raised while starting; by default
    raise it again.
    """

    def __init__(self, onFailure=None):
        super().__init__()
        self.whenStarted: list = []
        self.onFailure = onFailure

    def _guard(self, start) -> None:
        try:
            start()
        except ConfigError as e:
            if self.onFailure is None:
                raise
            self.onFailure(str(e))

    def privilegedStartService(self) -> None:
        # twistd listens here, before dropping privileges; startService does the rest.
        self._guard(super().privilegedStartService)

    def startService(self) -> None:
        self._guard(super().startService)
        for hook in self.whenStarted:
            self._guard(hook)
        sdNotify("READY=1")

    def stopService(self):
        sdNotify("STOPPING=1")
        return super().stopService()
