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
    Two limits are off, where a real server has them: a failed login is answered at once
    (not after 2 s), and one user may have any number of sessions from 127.0.0.1 (tests
    open hundreds); pass C{authFailureDelay} or C{maxUserIPConnections} to test them.
    """
    if reactor is None:
        from twisted.internet import reactor
    settings.setdefault("authFailureDelay", 0.0)
    settings.setdefault("maxUserIPConnections", 0)
    factory = IMAPServerFactory(backend, reactor, **settings)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, factory


def notifierConfig(name: str, port: int, username: str, password: str, sinks: list[dict],
                   stateFile, host: str = "127.0.0.1"):
    """
    A parsed L{idlemail.notifier.config.NotifierConfig} for one plaintext loopback account,
    built through the same loader as a config file (so tests exercise the real parsing).
    """
    from idlemail.notifier.config import parseNotifier
    return parseNotifier({"state_file": str(stateFile), "accounts": [{
        "name": name, "server": f"tcp:{host}:{port}", "plaintext": True,
        "username": username, "password": password, "sinks": sinks}]}, "test-config")


__all__ = ["DEFAULT_USERS", "memoryBackend", "listenLocal", "notifierConfig"]
