"""
An in-process idlemail server on 127.0.0.1, for clients that run in threads (the
reactor runs the server meanwhile): C{server} over the memory backend, and
C{anyServer} once over each backend (memory, Maildir) for what must hold on both,
C{maildirServer} for what only a Maildir on disk can show, and C{serve} for servers with
settings of their own.
"""

import os
from dataclasses import dataclass

import pytest_twisted
from twisted.internet import defer

from idlemail.backends.maildir.backend import MaildirBackend, createMaildir
from idlemail.testing import DEFAULT_USERS, listenLocal, memoryBackend
from tests.backends.maildir.conftest import writePasswd


@dataclass
class Server:
    host: str
    port: int
    backend: object
    factory: object
    kind: str = "memory"

    def deliver(self, message: bytes, user: str = "alice") -> None:
        """Put a message in INBOX as an MDA does, with no IMAP session involved."""
        if self.kind == "memory":
            self.backend.deliver(user, message)
            return
        maildir = self.backend.root / user / "Maildir"
        name = f"1700000000.M{os.urandom(4).hex()}P1.mda"
        (maildir / "tmp" / name).write_bytes(message)
        os.rename(maildir / "tmp" / name, maildir / "new" / name)

    def maildir(self, user: str = "alice"):
        return self.backend.root / user / "Maildir"


async def _serve(backend, kind):
    port, factory = listenLocal(backend)
    return port, Server("127.0.0.1", port.getHost().port, backend, factory, kind)


async def _stop(port, server):
    for session in list(server.factory.sessions):
        session.transport.abortConnection()
    await defer.maybeDeferred(port.stopListening)
    await defer.maybeDeferred(server.backend.close)


@pytest_twisted.async_yield_fixture
async def serve():
    """C{serve(**settings)}: a server over a fresh memory backend with those factory
    settings (limits, policies), listening at once; every one is stopped after the test."""
    started = []

    def start(**settings):
        backend = memoryBackend()
        port, factory = listenLocal(backend, **settings)
        started.append((port, Server("127.0.0.1", port.getHost().port, backend, factory)))
        return started[-1][1]
    yield start
    for port, served in started:
        await _stop(port, served)


@pytest_twisted.async_yield_fixture
async def server():
    port, served = await _serve(memoryBackend(), "memory")
    yield served
    await _stop(port, served)


def _maildirBackend(tmp_path) -> MaildirBackend:
    writePasswd(tmp_path / "passwd", DEFAULT_USERS)
    for user in DEFAULT_USERS:
        createMaildir(tmp_path / "mail", user)
    return MaildirBackend(tmp_path / "mail", tmp_path / "passwd")


@pytest_twisted.async_yield_fixture(params=["memory", "maildir"])
async def anyServer(request, tmp_path):
    backend = memoryBackend() if request.param == "memory" else _maildirBackend(tmp_path)
    port, served = await _serve(backend, request.param)
    yield served
    await _stop(port, served)


@pytest_twisted.async_yield_fixture
async def maildirServer(tmp_path):
    port, served = await _serve(_maildirBackend(tmp_path), "maildir")
    yield served
    await _stop(port, served)
