"""
Upstreams for the remote backend, all on 127.0.0.1 and stopped by the test: idlemail's own
server over a memory backend (in-process, with or without IDLE), and a real Dovecot
(the C{dovecot} fixture); and a proxy (idlemail over the remote backend) in front of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from idlemail.backends.remote.backend import RemoteBackend
from idlemail.backends.remote.settings import RemoteSettings
from idlemail.testing import DEFAULT_USERS, listenLocal, memoryBackend
from idlemail.testing.dovecot import DovecotServer
from idlemail.testing.noidle import listenLocalWithoutIdle
from tests.server.clients import RawClient

QUICK = dict(plaintext=True, commandTimeout=5.0, pollInterval=0.2, backoffInitial=0.1,
             backoffMax=0.5, watchLinger=30.0)


@dataclass
class Upstream:
    """An idlemail server on a loopback port that a test may stop and start again."""

    backend: object
    idle: bool = True
    port: int = 0
    factory: object = None
    listening: object = None
    host: str = "127.0.0.1"

    def start(self) -> None:
        listen = listenLocal if self.idle else listenLocalWithoutIdle
        if self.port:
            from idlemail.server.factory import IMAPServerFactory
            from idlemail.testing.noidle import NoIdleServerFactory
            kind = IMAPServerFactory if self.idle else NoIdleServerFactory
            self.factory = kind(self.backend, reactor)
            self.listening = reactor.listenTCP(self.port, self.factory, interface=self.host)
        else:
            self.listening, self.factory = listen(self.backend)
            self.port = self.listening.getHost().port

    async def stop(self) -> None:
        """Stop listening and drop every session, as a server that goes away."""
        if self.listening is None:
            return
        listening, self.listening = self.listening, None
        for session in list(self.factory.sessions):
            session.transport.abortConnection()
        await defer.maybeDeferred(listening.stopListening)

    def deliver(self, message: bytes, user: str = "alice", mailbox: str = "INBOX") -> int:
        return self.backend.deliver(user, message, mailbox)


@dataclass
class Proxy:
    """idlemail over the remote backend, in front of an upstream."""

    backend: RemoteBackend
    port: int
    factory: object
    listening: object
    host: str = "127.0.0.1"
    clients: list = field(default_factory=list)


def selected(proxy, mailbox: bytes = b"INBOX") -> RawClient:
    """A raw client of the proxy, logged in as alice, with C{mailbox} selected."""
    c = RawClient(proxy.host, proxy.port)
    c.login()
    c.command(b"s", b"SELECT " + mailbox)
    return c


def remoteSettings(port: int, **overrides) -> RemoteSettings:
    return RemoteSettings(**{"upstream": f"tcp:127.0.0.1:{port}", **QUICK, **overrides})


async def startProxy(upstreamPort: int, **overrides) -> Proxy:
    backend = RemoteBackend(remoteSettings(upstreamPort, **overrides), reactor)
    listening, factory = listenLocal(backend)
    return Proxy(backend, listening.getHost().port, factory, listening)


async def stopProxy(proxy: Proxy) -> None:
    for session in list(proxy.factory.sessions):
        session.transport.abortConnection()
    await defer.maybeDeferred(proxy.listening.stopListening)
    await proxy.backend.close()


@pytest_twisted.async_yield_fixture
async def upstream():
    served = Upstream(memoryBackend(dict(DEFAULT_USERS)))
    served.start()
    yield served
    await served.stop()


@pytest_twisted.async_yield_fixture
async def upstreamWithoutIdle():
    served = Upstream(memoryBackend(dict(DEFAULT_USERS)), idle=False)
    served.start()
    yield served
    await served.stop()


@pytest_twisted.async_yield_fixture
async def proxy(upstream):
    served = await startProxy(upstream.port)
    yield served
    await stopProxy(served)


def startDovecot() -> DovecotServer:
    """Debian's Dovecot as the tests' C{dovecot} fixture starts it, without the 2 s wait it
    puts after a refused login (the refusal itself is what is tested)."""
    if not DovecotServer.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = DovecotServer.temporary(dict(DEFAULT_USERS), extraConfig="auth_failure_delay = 0\n")
    server.start()
    return server


def stopDovecot(server: DovecotServer) -> None:
    server.cleanup()
    assert server.proc.poll() is not None


@pytest.fixture
def dovecotUpstream():
    server = startDovecot()
    yield server
    stopDovecot(server)
