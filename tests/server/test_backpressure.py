"""
Backpressure: a client that sends and never reads makes the server hold a bounded amount
(its unsent output stops at about 256 kB, and then nothing more is read); FETCH writes
message by message and waits, streaming whole messages from backends that can
(IBodyStreams) and writing the others in pieces.
"""

import imaplib
import socket

import pytest_twisted
from twisted.internet import reactor, task

from tests.server.clients import RawClient, inThread, servedWhileBusy

MB = 1024 * 1024


def message(i: int, size: int) -> bytes:
    head = b"From: bulk@example.org\r\nSubject: bulk %d\r\n\r\n" % i
    line = b"%07d The quick brown fox jumps over the lazy dog 0123456789\r\n" % i
    return head + line * (size // len(line))


def sendWithoutReading(c: RawClient, data: bytes, seconds: float = 2.0) -> int:
    """Send until all is sent or the server stops taking it; the octets sent."""
    c.sock.settimeout(seconds)
    sent = 0
    try:
        while sent < len(data):
            sent += c.sock.send(data[sent:sent + 65536])
    except (socket.timeout, BlockingIOError):
        pass
    return sent


@pytest_twisted.ensureDeferred
async def test_pipelined_capability_never_read_grows_nothing(server):
    def attack():
        c = RawClient(server.host, server.port)
        return c, sendWithoutReading(c, b"a CAPABILITY\r\n" * (2 * MB // 14))
    client, sent = await inThread(attack)
    await task.deferLater(reactor, 0.5, lambda: None)
    [session] = server.factory.sessions
    try:
        # ~150,000 commands would be ~28 MB of answers; the server stopped reading instead.
        assert session.heldBytes() < MB
    finally:
        client.close()
    assert sent > 0


@pytest_twisted.ensureDeferred
async def test_fetch_of_large_messages_never_read_is_bounded_and_others_are_served(anyServer):
    for i in range(24):
        anyServer.deliver(message(i, 512 * 1024))  # 12 MB

    def attack():
        c = RawClient(anyServer.host, anyServer.port)
        c.login()
        c.command(b"s", b"SELECT INBOX")
        c.send(b"".join(b"f%d FETCH 1:* BODY.PEEK[]\r\n" % i for i in range(3)))
        return c
    client = await inThread(attack)
    await task.deferLater(reactor, 1.0, lambda: None)
    held = max(s.heldBytes() for s in anyServer.factory.sessions)
    try:
        assert held < 2 * MB, held  # not 36 MB
        exchange, _ = await inThread(servedWhileBusy, anyServer, client, b"f2")
        assert exchange[0].startswith(b"* OK") and exchange[-1].startswith(b"n OK")

        def readAll():
            # The client reads at last: every message arrives whole, in order.
            sizes = []
            for tag in (b"f0", b"f1", b"f2"):
                while True:
                    line = client.readline()
                    if line.startswith(tag + b" "):
                        assert line.startswith(tag + b" OK"), line
                        break
                    if not line.endswith(b"}"):
                        continue  # the ")" after a literal
                    head, _, size = line.rpartition(b" {")
                    n = int(size[:-1])
                    while len(client.buffer) < n:
                        client.buffer += client.sock.recv(1 << 20)
                    body, client.buffer = client.buffer[:n], client.buffer[n:]
                    sizes.append((head.split()[1], body[:64]))
            return sizes
        got = await inThread(readAll)
    finally:
        client.close()
    assert [seq for seq, _ in got] == [b"%d" % i for i in range(1, 25)] * 3
    assert got[5][1].startswith(b"From: bulk@example.org\r\nSubject: bulk 5\r\n")


@pytest_twisted.ensureDeferred
async def test_whole_messages_arrive_intact_however_fetched(anyServer):
    big = message(1, 700 * 1024)
    anyServer.deliver(big)
    anyServer.deliver(b"Subject: small\r\n\r\nsmall body\r\n")

    def go():
        imap = imaplib.IMAP4(anyServer.host, anyServer.port)
        imap.login("alice", "alicepw")
        imap.select("INBOX")
        out = {name: imap.fetch("1:2", name)[1] for name in (
            "(BODY.PEEK[])", "(RFC822.SIZE ENVELOPE BODY.PEEK[])", "(BODY.PEEK[]<0.16>)",
            "(UID RFC822)")}
        imap.logout()
        return out
    out = await inThread(go)
    stored = big  # already with CRLF line ends, as both backends store it
    for name in ("(BODY.PEEK[])", "(RFC822.SIZE ENVELOPE BODY.PEEK[])", "(UID RFC822)"):
        first, second = out[name][0], out[name][2]
        assert first[1] == stored, name
        assert second[1] == b"Subject: small\r\n\r\nsmall body\r\n", name
    assert out["(BODY.PEEK[]<0.16>)"][0][1] == stored[:16]
    assert b"RFC822.SIZE %d" % len(stored) in out["(RFC822.SIZE ENVELOPE BODY.PEEK[])"][0][0]


@pytest_twisted.ensureDeferred
async def test_a_message_that_shrinks_mid_stream_drops_the_connection(server, monkeypatch):
    from idlemail.backends import memory
    server.deliver(message(1, 300 * 1024))

    def short(self, n):  # the file behind the stream was cut short
        return memory.defer.succeed(b"")
    monkeypatch.setattr(memory._BodyReader, "read", short)

    def go():
        c = RawClient(server.host, server.port)
        c.login()
        c.command(b"s", b"SELECT INBOX")
        c.send(b"f FETCH 1 BODY.PEEK[]\r\n")
        received = b""
        try:
            while chunk := c.sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # cut off: what was still unsent is gone
        return received
    received = await inThread(go)
    # No tagged answer in the middle of a literal: the connection is simply dropped.
    assert b"\r\nf " not in received
    exchange = await inThread(lambda: RawClient(server.host, server.port).command(b"a", b"NOOP"))
    assert exchange[-1].startswith(b"a OK")  # the server itself goes on


@pytest_twisted.ensureDeferred
async def test_an_idler_that_reads_none_of_its_updates_is_cut_off(serve):
    server = serve(outputBound=16 * 1024)  # cut off beyond 16 bounds: 256 kB
    for i in range(200):
        server.backend.deliver("alice", message(i, 100))

    def go():
        idler = socket.socket()
        idler.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        idler.settimeout(10)
        idler.connect((server.host, server.port))
        idler.sendall(b"a LOGIN alice alicepw\r\nb SELECT INBOX\r\nc IDLE\r\n")
        seen = b""
        while b"+ idling" not in seen:
            seen += idler.recv(4096)
        writer = RawClient(server.host, server.port)
        writer.login()
        writer.command(b"s", b"SELECT INBOX")
        for i in range(2000):  # each one 200 flag updates for the idler (~12 kB)
            change = b"+FLAGS" if i % 2 == 0 else b"-FLAGS"
            writer.command(b"t", b"STORE 1:200 " + change + b".SILENT (\\Flagged)")
            if len(server.factory.sessions) == 1:
                break
        writer.close()
        idler.close()
        return i
    stores = await inThread(go)
    assert stores < 1999  # the idler was dropped long before (~2.4 MB of updates)
