"""
Public test helpers: an in-process server over a backend, on 127.0.0.1, and the
backend conformance suite (L{idlemail.testing.conformance}, needs pytest).
"""

from __future__ import annotations

from idlemail.backends.memory import MemoryBackend
from idlemail.server.factory import IMAPServerFactory

DEFAULT_USERS = {"alice": "alicepw", "bob": "bobpw"}


def memoryBackend(users: dict[str, str] | None = None) -> MemoryBackend:
    """A memory backend with the given users (default alice/alicepw, bob/bobpw)."""
    return MemoryBackend(dict(DEFAULT_USERS if users is None else users))


def listenLocal(backend, reactor=None, **settings):
    """
    Serve C{backend} on an ephemeral port of 127.0.0.1. Returns the listening port
    (C{port.getHost().port}; stop it with C{port.stopListening()}) and the factory.
    """
    if reactor is None:
        from twisted.internet import reactor
    factory = IMAPServerFactory(backend, reactor, **settings)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, factory


__all__ = ["DEFAULT_USERS", "memoryBackend", "listenLocal"]
