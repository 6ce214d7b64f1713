"""
An idlemail server that neither advertises nor allows IDLE, as many providers' servers:
for testing clients (the notifier, the remote backend's watcher) that must poll instead.
"""

from __future__ import annotations

from idlemail.server.factory import IMAPServerFactory
from idlemail.server.protocol import IMAPServerProtocol


class NoIdleProtocol(IMAPServerProtocol):
    __slots__ = ()

    def startIdle(self, tag: str) -> None:
        # RFC 2177: a client must not IDLE unless it is advertised; a server without it
        # answers as to any unknown command.
        self._finish(tag, "BAD", None, "Unknown command")


class NoIdleServerFactory(IMAPServerFactory):
    protocol = NoIdleProtocol

    def __init__(self, backend, reactor=None, **settings):
        super().__init__(backend, reactor, **settings)
        for name in ("_preAuth", "_postAuth"):
            setattr(self, name, getattr(self, name).replace(b" IDLE", b""))


def listenLocalWithoutIdle(backend, reactor=None, **settings):
    """Like L{idlemail.testing.listenLocal}, but the server offers no IDLE."""
    if reactor is None:
        from twisted.internet import reactor
    factory = NoIdleServerFactory(backend, reactor, **settings)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, factory
