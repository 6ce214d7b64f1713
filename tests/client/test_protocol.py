"""
IMAPClientProtocol against idlemail's own server on 127.0.0.1.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from idlemail.client.protocol import IMAPClientProtocol, IMAPCommandError
from idlemail.testing import listenLocal, memoryBackend
from idlemail.wire import response as R


@pytest_twisted.async_yield_fixture
async def connect():
    backend = memoryBackend()
    port, factory = listenLocal(backend)
    clients = []

    async def open_(login=True):
        proto = IMAPClientProtocol()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), proto)
        await proto.greeted
        if login:
            await proto.login("alice", "alicepw")
        clients.append(proto)
        return proto

    open_.backend = backend
    yield open_
    for c in clients:
        if c.transport is not None:
            c.transport.abortConnection()
    for s in list(factory.sessions):
        s.transport.abortConnection()
    await port.stopListening()


def within(d, seconds=10):
    return defer.ensureDeferred(d).addTimeout(seconds, reactor) if not isinstance(d, defer.Deferred) else d.addTimeout(seconds, reactor)


@pytest_twisted.ensureDeferred
async def test_greeting_capabilities_and_login(connect):
    proto = await connect(login=False)
    assert "IDLE" in proto.capabilities  # from the greeting's CAPABILITY code
    caps = await proto.capability()
    assert "IMAP4REV1" in caps
    with pytest.raises(IMAPCommandError) as e:
        await proto.login("alice", "wrong")
    assert e.value.tagged.status == "NO"
    await proto.authenticatePlain("alice", "alicepw")


@pytest_twisted.ensureDeferred
async def test_idle_sees_exists_at_once_and_holds_other_commands(connect):
    watcher = await connect()
    state = await watcher.select("INBOX")
    assert state.exists == 0 and state.uidvalidity and state.readwrite
    seen = []
    watcher.onUntagged = seen.append
    await within(watcher.idle())
    assert watcher.idling
    held = watcher.noop()  # must wait: nothing is written while the server waits for DONE
    connect.backend.deliver("alice", b"Subject: one\r\n\r\nbody\r\n")
    for _ in range(200):
        if any(isinstance(r, R.Exists) for r in seen):
            break
        await within(defer.Deferred().addTimeout(0.01, reactor).addErrback(lambda f: None))
    assert R.Exists(1) in seen
    assert not held.called
    result = await within(watcher.done())
    assert result.tagged.status == "OK"
    await within(held)
    assert not watcher.idling


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_and_big_literals(connect):
    proto = await connect()
    big = b"Subject: big\r\n\r\n" + b"x" * 200_000 + b"\r\n"
    await proto.sendCommand("APPEND", "INBOX", b"{%d+}\r\n" % len(big) + big)
    await proto.select("INBOX")
    a, b, c = proto.noop(), proto.uidFetch("1", "(UID BODY.PEEK[])"), proto.uidSearch("ALL")
    results = await within(defer.gatherResults([a, b, c]))
    assert results[1][1]["BODY[]"] == big
    assert results[2] == [1]


@pytest_twisted.ensureDeferred
async def test_bad_command_fails_and_connection_loss_fails_the_rest(connect):
    proto = await connect()
    with pytest.raises(IMAPCommandError) as e:
        await proto.sendCommand("FROB")
    assert e.value.tagged.status == "BAD"
    pending = proto.noop()
    proto.transport.abortConnection()
    with pytest.raises(Exception):
        await within(pending)


@pytest_twisted.ensureDeferred
async def test_xoauth2_sends_the_bearer_string():
    # A stand-in for a Gmail-style XOAUTH2 server: no such server can run here.
    import base64

    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import LineReceiver

    received = []

    class Fake(LineReceiver):
        delimiter = b"\r\n"

        def connectionMade(self):
            self.sendLine(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] fake ready")

        def lineReceived(self, line):
            tag, _, rest = line.partition(b" ")
            received.append(rest)
            ok = b"\x01auth=Bearer good-token\x01\x01" in base64.b64decode(rest.split()[-1])
            self.sendLine(tag + (b" OK done" if ok else b" NO [AUTHENTICATIONFAILED] bad"))

    port = reactor.listenTCP(0, Factory.forProtocol(Fake), interface="127.0.0.1")
    try:
        proto = IMAPClientProtocol()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), proto)
        await proto.greeted
        await proto.authenticateXOAUTH2("me@example.org", "good-token")
        with pytest.raises(IMAPCommandError):
            await proto.authenticateXOAUTH2("me@example.org", "bad-token")
        assert received[0].startswith(b"AUTHENTICATE XOAUTH2 ")
        assert base64.b64decode(received[0].split()[-1]).startswith(b"user=me@example.org\x01")
        proto.transport.loseConnection()
    finally:
        await port.stopListening()
