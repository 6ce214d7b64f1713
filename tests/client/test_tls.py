"""
TLS on the client side: implicit TLS and STARTTLS verify the certificate and the host name
by default; a certificate nobody vouches for is refused; a private CA file is honoured.
"""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer, reactor, task

from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.server.factory import IMAPServerFactory
from idlemail.server.tls import contextFromFiles
from idlemail.testing import listenLocal, memoryBackend
from idlemail.testing.certs import selfSigned
from tests.client.test_watcher import Events


async def watch(events, server, **overrides):
    values = dict(account="tls", server=server, username="alice", password="alicepw",
                  backoffInitial=0.1, backoffMax=0.3, commandTimeout=5.0)
    values.update(overrides)
    w = MailboxWatcher(WatchSettings(**values), events, reactor=reactor)
    w.startService()
    return w


def listenTLS(tmp_path):
    """idlemail's server with implicit TLS and a self-signed certificate, on 127.0.0.1."""
    cert = selfSigned(tmp_path)
    factory = IMAPServerFactory(memoryBackend(), reactor)
    port = reactor.listenSSL(0, factory, contextFromFiles(str(cert)), interface="127.0.0.1")
    return port, factory, cert


@pytest_twisted.ensureDeferred
async def test_implicit_tls_is_verified(tmp_path):
    port, factory, cert = listenTLS(tmp_path)
    where = f"tls:127.0.0.1:{port.getHost().port}"
    refused, trusted = Events(), Events()
    bad = await watch(refused, where)
    good = await watch(trusted, where, caFile=str(cert))
    try:
        await trusted.waitCount("account.up", 1)
        await defer.Deferred().addTimeout(0.5, reactor).addErrback(lambda f: None)
        assert refused.named("account.up") == []  # unknown issuer: never logged in
        assert bad.failures >= 1
    finally:
        await bad.stopService()
        await good.stopService()
        for s in list(factory.sessions):
            s.transport.abortConnection()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_starttls_upgrades_before_login(tmp_path):
    cert = selfSigned(tmp_path)
    port, factory = listenLocal(memoryBackend(), tlsContext=contextFromFiles(str(cert)))
    events = Events()
    w = await watch(events, f"tcp:127.0.0.1:{port.getHost().port}", starttls=True,
                    caFile=str(cert))
    try:
        await events.waitCount("account.up", 1)
        [session] = [s for s in factory.sessions if s.account is not None]
        assert session.tlsActive
    finally:
        await w.stopService()
        for s in list(factory.sessions):
            s.transport.abortConnection()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_plaintext_sent_after_the_starttls_ok_is_not_read_as_if_over_tls(tmp_path):
    """A server (or a man in the middle) that appends a response to its STARTTLS OK, in the
    same packet, must not have it taken as said over TLS (the CVE-2011-0411 class)."""
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import LineReceiver

    from idlemail.client.endpoints import tlsOptions
    from idlemail.client.protocol import IMAPClientProtocol

    cert = selfSigned(tmp_path)
    context = contextFromFiles(str(cert))

    class Injecting(LineReceiver):
        delimiter = b"\r\n"

        def connectionMade(self):
            self.sendLine(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready")

        def lineReceived(self, line):
            tag, _, command = line.partition(b" ")
            if command == b"STARTTLS":
                self.transport.write(tag + b" OK begin TLS\r\n"
                                     b"* CAPABILITY IMAP4rev1 INJECTED\r\n")
                self.transport.startTLS(context)
            elif command == b"CAPABILITY":
                self.sendLine(b"* CAPABILITY IMAP4rev1 IDLE")
                self.sendLine(tag + b" OK done")

    port = reactor.listenTCP(0, Factory.forProtocol(Injecting), interface="127.0.0.1")
    proto = IMAPClientProtocol()
    try:
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
                              proto)
        await proto.greeted
        await proto.starttls(tlsOptions("127.0.0.1", str(cert)))
        await task.deferLater(reactor, 0.2, lambda: None)  # whatever was buffered is read
        assert "INJECTED" not in proto.capabilities
        caps = await proto.capability().addTimeout(5, reactor)
        assert caps == frozenset({"IMAP4REV1", "IDLE"})
    finally:
        if proto.transport is not None:
            proto.transport.abortConnection()
        await port.stopListening()
