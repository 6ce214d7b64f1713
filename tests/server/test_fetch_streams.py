"""
FETCH of a whole body from a backend that reads messages in pieces (IBodyStreams): the
octets go to the client as they are read, the whole message is never asked for, and a
stream that ends before its announced size closes the connection rather than send
anything in the literal's place.
"""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer
from zope.interface import implementer

from idlemail.backends.memory import MemoryAccount, MemoryBackend, MemoryMailbox
from idlemail.interfaces import IBodyStreams
from idlemail.testing import DEFAULT_USERS, listenLocal
from tests.server.clients import RawClient, inThread

BIG = b"Subject: big\r\n\r\n" + b"".join(b"line %05d\r\n" % n for n in range(20_000))


class Pieces:
    def __init__(self, data: bytes, size: int, reads: list):
        self.data, self.size, self.reads, self.offset = data, size, reads, 0

    def read(self, n: int):
        chunk = self.data[self.offset:self.offset + min(n, 4096)]
        self.offset += len(chunk)
        self.reads.append(len(chunk))
        return defer.succeed(chunk)

    def close(self) -> None:
        pass


@implementer(IBodyStreams)
class StreamingMailbox(MemoryMailbox):
    reads: list = []
    shortBy = 0  # the stream ends this many octets before its size
    wholeAsked = 0

    def body(self, uid: int):
        StreamingMailbox.wholeAsked += 1
        return super().body(uid)

    def openBody(self, uid: int):
        message = self._store.messages.get(uid)
        if message is None:
            return defer.succeed(None)
        data = message.body[:len(message.body) - self.shortBy]
        return defer.succeed(Pieces(data, len(message.body), self.reads))


class StreamingAccount(MemoryAccount):
    def open(self, name: str, readonly: bool):
        return defer.maybeDeferred(
            lambda: StreamingMailbox(name, self._store(name), self, readonly))


class StreamingBackend(MemoryBackend):
    def login(self, username: str, password: str):
        d = super().login(username, password)
        return d.addCallback(lambda account: StreamingAccount(account.username,
                                                              self.users[username]))


@pytest_twisted.async_yield_fixture
async def served():
    StreamingMailbox.reads, StreamingMailbox.shortBy, StreamingMailbox.wholeAsked = [], 0, 0
    backend = StreamingBackend(dict(DEFAULT_USERS))
    backend.deliver("alice", BIG)
    port, factory = listenLocal(backend)
    yield port.getHost().port
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await port.stopListening()


def fetchWhole(port: int) -> bytes:
    c = RawClient("127.0.0.1", port)
    c.login()
    c.command(b"s", b"SELECT INBOX")
    c.send(b"f UID FETCH 1 (BODY.PEEK[] FLAGS)\r\n")
    data = c.buffer
    try:
        while b"\r\nf OK" not in data:
            chunk = c.sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass  # closed at once (aborted): what came before is kept
    finally:
        c.close()
    return data


@pytest_twisted.ensureDeferred
async def test_a_whole_body_goes_out_as_it_is_read(served):
    data = await inThread(fetchWhole, served)
    head = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(BIG)
    assert data.startswith(head)
    assert data[len(head):len(head) + len(BIG)] == BIG
    assert data[len(head) + len(BIG):].startswith(b" FLAGS (\\Recent))\r\nf OK")
    assert len(StreamingMailbox.reads) > 10 and StreamingMailbox.wholeAsked == 0


@pytest_twisted.ensureDeferred
async def test_a_stream_shorter_than_its_size_closes_the_connection(served):
    StreamingMailbox.shortBy = 100
    data = await inThread(fetchWhole, served)
    assert len(data) < len(BIG) and b"f OK" not in data and b"FLAGS" not in data
