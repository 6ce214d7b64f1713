"""
The proxy's upstream connections verify TLS by default: an upstream whose certificate
nobody vouches for is refused at login, one signed by the configured C{ca_file} is used,
over implicit TLS and over STARTTLS.
"""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer

from idlemail.server.tls import contextFromFiles
from idlemail.testing import listenLocal, memoryBackend
from tests.backends.remote.conftest import startProxy, stopProxy
from tests.client.test_tls import listenTLS
from tests.server.clients import RawClient, inThread


def login(proxy) -> list[bytes]:
    c = RawClient(proxy.host, proxy.port)
    reply = c.command(b"a", b"LOGIN alice alicepw")
    selected = c.command(b"s", b"SELECT INBOX") if reply[-1].startswith(b"a OK") else []
    c.close()
    return reply + selected


async def stopped(port, factory) -> None:
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await defer.maybeDeferred(port.stopListening)


@pytest_twisted.ensureDeferred
async def test_implicit_tls_upstream_is_verified(tmp_path):
    port, factory, cert = listenTLS(tmp_path)
    upstream = f"tls:127.0.0.1:{port.getHost().port}"
    untrusting = await startProxy(0, upstream=upstream, plaintext=False)
    trusting = await startProxy(0, upstream=upstream, plaintext=False, caFile=str(cert))
    try:
        refused = await inThread(login, untrusting)
        assert refused[-1].startswith(b"a NO [UNAVAILABLE] The upstream server is "
                                      b"unavailable (TLS certificate not trusted")
        accepted = await inThread(login, trusting)
        assert accepted[-1].startswith(b"s OK [READ-WRITE]")
    finally:
        await stopProxy(untrusting)
        await stopProxy(trusting)
        await stopped(port, factory)


@pytest_twisted.ensureDeferred
async def test_starttls_upstream_is_upgraded_before_the_password_goes(tmp_path):
    from idlemail.testing.certs import selfSigned
    cert = selfSigned(tmp_path)
    port, factory = listenLocal(memoryBackend(), tlsContext=contextFromFiles(str(cert)))
    proxy = await startProxy(0, upstream=f"tcp:127.0.0.1:{port.getHost().port}",
                             plaintext=False, starttls=True, caFile=str(cert))
    try:
        assert (await inThread(login, proxy))[-1].startswith(b"s OK [READ-WRITE]")
        logged = [s for s in factory.sessions if s.account is not None]
        assert logged and all(s.tlsActive for s in logged)
    finally:
        await stopProxy(proxy)
        await stopped(port, factory)
