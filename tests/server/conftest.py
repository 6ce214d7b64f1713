"""
An in-process idlemail server over the memory backend on 127.0.0.1, for clients
that run in threads (the reactor runs the server meanwhile).
"""

from dataclasses import dataclass

import pytest_twisted
from twisted.internet import defer

from idlemail.testing import listenLocal, memoryBackend


@dataclass
class Server:
    host: str
    port: int
    backend: object
    factory: object


@pytest_twisted.async_yield_fixture
async def server():
    backend = memoryBackend()
    port, factory = listenLocal(backend)
    yield Server("127.0.0.1", port.getHost().port, backend, factory)
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await defer.maybeDeferred(port.stopListening)
