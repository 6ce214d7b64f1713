"""
One worker process of C{[server] workers = N} (started by L{idlemail.workers}, never by
hand): the IMAP server of the config over the listening sockets it inherited, logging JSON
records to its stdout (a pipe the parent reads), stopping on SIGTERM or when its stdin (a
pipe from the parent) closes because the parent is gone.

    python -m idlemail.worker --config F --index 2 --sockets '[{"fd": 3, "family": 2,
                                                              "listen": "tcp:1143"}]'
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger, globalLogBeginner, jsonFileLogObserver
from zope.interface import implementer

log = Logger()


@implementer(IReadDescriptor)
class ParentWatch:
    """Reads the worker's stdin: the parent never writes, so end-of-file means it is gone."""

    def __init__(self, reactor, fd: int = 0):
        self.reactor, self.fd = reactor, fd

    def fileno(self) -> int:
        return self.fd

    def doRead(self):
        try:
            data = os.read(self.fd, 512)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self._gone()
        return None

    def connectionLost(self, reason) -> None:
        # The reactor calls this instead of doRead when the pipe hangs up (EPOLLHUP).
        self._gone()

    def _gone(self) -> None:
        from twisted.internet.error import ReactorNotRunning
        self.reactor.removeReader(self)
        try:
            self.reactor.stop()
        except ReactorNotRunning:  # already stopping: the reactor closes every reader
            return
        log.warn("The parent process is gone; stopping")

    def logPrefix(self) -> str:
        return "parent"


def relayObserver(stream):
    """
    JSON records on C{stream} for the parent to log again. A failure goes as its traceback
    text: Twisted's JSON form keeps the traceback but not the exception's message.
    """
    write = jsonFileLogObserver(stream)

    def observe(event: dict) -> None:
        failure = event.get("log_failure")
        if failure is not None:
            event = {k: v for k, v in event.items() if k != "log_failure"}
            event["log_format"] = (event.get("log_format") or "") + "\n{traceback}"
            event["traceback"] = failure.getTraceback()
        write(event)
    return observe


def buildWorker(configPath: str, sockets: list[dict], reactor):
    """The worker's services: the server of the config, accepting on the inherited C{sockets}."""
    from dataclasses import replace

    from idlemail.config import loadConfig
    from idlemail.listen import AdoptedListeningService
    from idlemail.tap import buildService
    config = loadConfig(configPath)
    # The parent runs the notifier and refuses [metrics]; a worker serves IMAP only.
    config = replace(config, notifier=None, metrics=None,
                     server=replace(config.server, listen=(), workers=1))
    top = buildService(config, reactor=reactor, withNotifier=False)
    server = top.server
    if hasattr(server.factory.backend, "sharedStore"):
        server.factory.backend.sharedStore = True  # the other workers change this store
    for s in sockets:
        AdoptedListeningService(s["fd"], s["family"], s["listen"], server.factory,
                                reactor).setServiceParent(server)
    return top


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m idlemail.worker")
    p.add_argument("--config", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--sockets", required=True, help="JSON: [{fd, family, listen}, ...]")
    args = p.parse_args(argv)
    from twisted.internet import fdesc, reactor

    from idlemail.errors import ConfigError
    globalLogBeginner.beginLoggingTo([relayObserver(sys.stdout)], redirectStandardIO=False)
    try:
        top = buildWorker(args.config, json.loads(args.sockets), reactor)
        top.privilegedStartService()
        top.startService()
    except ConfigError as e:
        log.critical("idlemail worker {index}: {line}", index=args.index, line=str(e))
        return 1
    fdesc.setNonBlocking(0)
    reactor.addReader(ParentWatch(reactor))
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    log.info("worker {index} serving (pid {pid})", index=args.index, pid=os.getpid())
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
