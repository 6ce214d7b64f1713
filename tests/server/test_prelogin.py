"""
Nothing unbounded before login: a command's literal is judged (state, size) before one octet
of it is read; a refused synchronising literal never gets its "+", a refused
non-synchronising one is discarded as it arrives; before login every literal is small.
"""

import tracemalloc

import pytest_twisted
from twisted.internet import reactor, task

from tests.server.clients import RawClient, inThread

MB = 1024 * 1024
CHUNK = (b"X" * 1022 + b"\r\n") * 64  # 64 kB


@pytest_twisted.ensureDeferred
async def test_unauthenticated_appends_streaming_50mb_literals_hold_no_memory(server):
    perConnection = 2 * MB

    def attack():
        clients = [RawClient(server.host, server.port) for _ in range(8)]
        for c in clients:
            c.send(b"A APPEND INBOX {52428800+}\r\n")
        for _ in range(perConnection // len(CHUNK)):
            for c in clients:
                c.send(CHUNK)
        return clients

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        clients = await inThread(attack)
        await task.deferLater(reactor, 0.5, lambda: None)  # the server reads what is sent
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    try:
        # 16 MB were sent; the server held (at its peak) a few read buffers of it.
        assert peak - before < 4 * MB, (peak - before)
        assert sum(s.heldBytes() for s in server.factory.sessions) < MB
    finally:
        for c in clients:
            c.close()


@pytest_twisted.ensureDeferred
async def test_append_before_login_is_refused_and_the_connection_goes_on(server):
    def go():
        c = RawClient(server.host, server.port)
        c.send(b"a APPEND INBOX {200000+}\r\n" + b"x" * 200000 + b"\r\n")
        plus = c.readUntilTagged(b"a")
        c.send(b"b APPEND INBOX {10}\r\n")
        sync = c.readline()  # the client waits for "+": the refusal comes instead
        c.login()
        return plus, sync, c.command(b"c", b"APPEND INBOX {5+}\r\nhello")
    plus, sync, after = await inThread(go)
    assert plus == [b"a BAD APPEND is not allowed before login"]
    assert sync == b"b BAD APPEND is not allowed before login"
    assert after[-1].startswith(b"c OK [APPENDUID")


@pytest_twisted.ensureDeferred
async def test_literals_before_login_are_small_but_enough_to_log_in(server):
    def go():
        c = RawClient(server.host, server.port)
        big = c.command(b"a", b"LOGIN {9000}")
        unknown = c.command(b"b", b"FROB {5}")
        c.send(b"c LOGIN {5}\r\n")
        first = c.readline()
        c.send(b"alice {7}\r\n")
        second = c.readline()
        c.send(b"alicepw\r\n")
        return big, unknown, first, second, c.readUntilTagged(b"c")
    big, unknown, first, second, login = await inThread(go)
    assert big == [b"a NO [TOOBIG] Literal before login too big: 9000 octets, limit is 8192"]
    assert unknown == [b"b BAD Unknown command"]
    assert first.startswith(b"+ ") and second.startswith(b"+ ")
    assert login[-1].startswith(b"c OK")


@pytest_twisted.ensureDeferred
async def test_an_append_pipelined_after_login_is_judged_once_logged_in(server):
    def go():
        c = RawClient(server.host, server.port)
        c.send(b"a LOGIN alice alicepw\r\nb APPEND INBOX {5+}\r\nhello\r\nc NOOP\r\n")
        return c.readUntilTagged(b"a"), c.readUntilTagged(b"b"), c.readUntilTagged(b"c")
    login, append, noop = await inThread(go)
    assert login[-1].startswith(b"a OK")
    assert append[-1].startswith(b"b OK [APPENDUID")
    assert noop[-1].startswith(b"c OK")


@pytest_twisted.ensureDeferred
async def test_a_literal_during_idle_ends_idle_and_is_judged_as_a_command(server):
    def go():
        c = RawClient(server.host, server.port)
        c.login()
        c.command(b"s", b"SELECT INBOX")
        c.send(b"i IDLE\r\n")
        plus = c.readline()
        c.send(b"a APPEND INBOX {5+}\r\nhello\r\n")
        return plus, c.readUntilTagged(b"i"), c.readUntilTagged(b"a")
    plus, idle, append = await inThread(go)
    assert plus == b"+ idling"
    assert idle == [b"i BAD Expected DONE to end IDLE"]
    assert append[-1].startswith(b"a OK [APPENDUID")
