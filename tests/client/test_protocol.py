"""
IMAPClientProtocol against idlemail's own server on 127.0.0.1.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
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
    open_.factory = factory
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


async def until(check, seconds=10):
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition not met in time")


def serverIdlers(connect):
    return [s for s in connect.factory.sessions if s.idlingSince]


@pytest_twisted.ensureDeferred
async def test_idle_sees_exists_at_once(connect):
    watcher = await connect()
    state = await watcher.select("INBOX")
    assert state.exists == 0 and state.uidvalidity and state.readwrite
    seen = []
    watcher.onUntagged = seen.append
    await within(watcher.idle())
    assert watcher.idling
    connect.backend.deliver("alice", b"Subject: one\r\n\r\nbody\r\n")
    await until(lambda: R.Exists(1) in seen)
    result = await within(watcher.stopIdle())
    assert result.tagged.status == "OK"
    assert not watcher.idling and not serverIdlers(connect)


@pytest_twisted.ensureDeferred
async def test_commands_during_idle_interrupt_it_and_idling_resumes(connect):
    proto = await connect()
    await proto.select("INBOX")
    await within(proto.idle())
    [session] = serverIdlers(connect)
    # Three commands at once: one DONE, the three run, then one IDLE again.
    results = await within(defer.gatherResults([proto.noop(), proto.uidSearch("ALL"),
                                                proto.status("INBOX")]))
    assert results[1] == [] and results[2]["MESSAGES"] == 0
    await until(lambda: proto.idling and serverIdlers(connect))
    assert proto.wantsIdle
    seen = []
    proto.onUntagged = seen.append
    connect.backend.deliver("alice", b"Subject: two\r\n\r\nbody\r\n")
    await until(lambda: R.Exists(1) in seen)  # the resumed IDLE pushes as the first did
    await within(proto.stopIdle())
    await within(proto.noop())  # and after stopIdle, a command does not bring IDLE back
    await task.deferLater(reactor, 0.1, lambda: None)
    assert not proto.idling and not serverIdlers(connect)


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
