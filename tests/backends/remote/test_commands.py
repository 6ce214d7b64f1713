"""
Commands through the proxy go upstream by UID, and as what they are: a large body is
fetched in partial pieces while it streams to the client, a partial FETCH is a partial
upstream, ENVELOPE needs only the header, SEARCH is a UID SEARCH (nothing downloaded to
search). Checked on the upstream's side by recording the lines it was sent.
"""

from __future__ import annotations

import re
import socket
import time

import pytest_twisted

from idlemail.server.protocol import IMAPServerProtocol
from tests.backends.remote.conftest import selected, startProxy, stopProxy
from tests.server.clients import RawClient, inThread

MESSAGE = (b"From: Carol <carol@example.org>\r\nTo: bob@example.org\r\n"
           b"Subject: quarterly report\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
           b"\r\nThe figures are in.\r\n")


class RecordingProtocol(IMAPServerProtocol):
    """The upstream's session, noting every command line it is sent."""

    __slots__ = ()
    received: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.received.append(line)
        super().lineReceived(line)


@pytest_twisted.async_yield_fixture
async def recorded(upstream):
    RecordingProtocol.received = received = []
    upstream.factory.protocol = RecordingProtocol
    proxy = await startProxy(upstream.port, fetchChunk=64 * 1024)
    yield upstream, proxy, received
    await stopProxy(proxy)


def sent(received, pattern: bytes) -> list[bytes]:
    """The command lines (tag cut off) that match C{pattern}."""
    lines = [line.split(b" ", 1)[1] for line in received if b" " in line]
    return [line for line in lines if re.search(pattern, line)]


def literalOf(lines: list[bytes]) -> bytes:
    """The octets of the one literal in a raw response read line by line."""
    joined = b"\r\n".join(lines)
    m = re.search(rb"\{(\d+)\}\r\n", joined)
    start = m.end()
    return joined[start:start + int(m.group(1))]


@pytest_twisted.ensureDeferred
async def test_a_large_body_streams_from_upstream_in_partial_pieces(recorded):
    upstream, proxy, received = recorded
    big = MESSAGE + b"".join(b"line %06d of the attachment\r\n" % n for n in range(12_000))
    upstream.deliver(big)

    def fetch():
        c = selected(proxy)
        lines = c.command(b"f", b"UID FETCH 1 (BODY.PEEK[])")
        c.close()
        return lines
    lines = await inThread(fetch)
    assert lines[0].startswith(b"* 1 FETCH (UID 1 BODY[] {%d}" % len(big))
    assert literalOf(lines) == big and lines[-1].startswith(b"f OK")
    pieces = sent(received, rb"BODY\.PEEK\[\]")
    assert len(pieces) == -(-len(big) // (64 * 1024)) > 1
    assert all(re.search(rb"BODY\.PEEK\[\]<\d+\.\d+>", p) for p in pieces)  # never whole


@pytest_twisted.ensureDeferred
async def test_partial_fetches_and_sections_are_fetched_as_such_upstream(recorded):
    upstream, proxy, received = recorded
    upstream.deliver(MESSAGE)

    def fetch():
        c = selected(proxy)
        partial = c.command(b"p", b"FETCH 1 (BODY.PEEK[]<10.20>)")
        header = c.command(b"h", b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        envelope = c.command(b"e", b"FETCH 1 (ENVELOPE)")
        c.close()
        return partial, header, envelope
    partial, header, envelope = await inThread(fetch)
    assert partial[0] == b"* 1 FETCH (BODY[]<10> {20}" and literalOf(partial) == MESSAGE[10:30]
    assert literalOf(header) == b"Subject: quarterly report\r\n\r\n"
    assert b'"quarterly report" (("Carol" NIL "carol" "example.org"))' in envelope[0]
    assert sent(received, rb"UID BODY\.PEEK\[\]<10\.20>")
    assert sent(received, rb"BODY\.PEEK\[HEADER\.FIELDS \(SUBJECT\)\]")
    assert sent(received, rb"BODY\.PEEK\[HEADER\]")  # ENVELOPE from the header alone
    assert not sent(received, rb"BODY\.PEEK\[\]\)")  # nothing fetched whole


@pytest_twisted.ensureDeferred
async def test_search_is_sent_upstream_as_uid_search(recorded):
    upstream, proxy, received = recorded
    upstream.deliver(MESSAGE)
    upstream.deliver(MESSAGE.replace(b"quarterly", b"weekly").replace(b"figures", b"numbers"))
    upstream.deliver(MESSAGE.replace(b"quarterly", b"annual"))

    def searches():
        c = selected(proxy)
        c.command(b"x", b"STORE 2 +FLAGS (\\Seen)")
        out = [c.command(b"a", b"SEARCH SUBJECT report BODY figures"),
               c.command(b"b", b"UID SEARCH OR SUBJECT weekly SUBJECT annual"),
               c.command(b"c", b"SEARCH 2:* UNSEEN"),
               c.command(b"d", b"SEARCH NOT TEXT numbers"),
               c.command(b"e", b"SEARCH CHARSET UTF-8 BODY {7+}\r\nz\xc3\xbcrich"),
               c.command(b"f", b"SEARCH RECENT")]
        c.close()
        return [lines[0] for lines in out]
    assert await inThread(searches) == [
        b"* SEARCH 1 3", b"* SEARCH 2 3", b"* SEARCH 3", b"* SEARCH 1 3", b"* SEARCH",
        b"* SEARCH 1 2 3"]
    assert sent(received, rb"^UID SEARCH SUBJECT \"report\" BODY \"figures\"$")
    assert sent(received, rb"^UID SEARCH UID 2:3 UNSEEN$")
    assert sent(received, rb"^UID SEARCH CHARSET UTF-8 BODY \{7\+\}")
    assert not sent(received, rb"BODY\.PEEK\[\]")  # nothing downloaded to search


@pytest_twisted.ensureDeferred
async def test_copy_to_a_missing_mailbox_asks_to_create_it(recorded):
    upstream, proxy, received = recorded
    upstream.deliver(MESSAGE)

    def copy():
        c = selected(proxy)
        missing = c.command(b"a", b"COPY 1 Nowhere")
        c.command(b"b", b"CREATE Nowhere")
        copied = c.command(b"c", b"COPY 1 Nowhere")
        status = c.command(b"d", b"STATUS Nowhere (MESSAGES)")
        c.close()
        return missing, copied, status
    missing, copied, status = await inThread(copy)
    assert missing[-1].startswith(b"a NO [TRYCREATE]")
    assert copied[-1].startswith(b"c OK [COPYUID ")
    assert status[0] == b'* STATUS "Nowhere" (MESSAGES 1)'
    assert sent(received, rb"^UID COPY 1 \"Nowhere\"$")


@pytest_twisted.ensureDeferred
async def test_a_slow_reader_pauses_the_upstream_reads(recorded):
    upstream, proxy, received = recorded
    big = MESSAGE + b"x" * (4 * 1024 * 1024) + b"\r\n"
    upstream.deliver(big)
    chunks = -(-len(big) // (64 * 1024))

    def slowFetch():
        c = RawClient.__new__(RawClient)  # its socket's buffer set small before connecting
        c.sock, c.buffer = socket.socket(), b""
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        c.sock.settimeout(10)
        c.sock.connect((proxy.host, proxy.port))
        c.greeting = c.readline()
        c.login()
        c.command(b"s", b"SELECT INBOX")
        for served in proxy.factory.sessions:  # the kernel's buffers kept small too
            served.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        c.send(b"f UID FETCH 1 (BODY.PEEK[])\r\n")
        c.readline()
        time.sleep(1.0)  # the client reads nothing meanwhile
        whileSlow = len(sent(received, rb"BODY\.PEEK\[\]<"))
        data = c.buffer
        while len(data) < len(big):
            data += c.sock.recv(1 << 20)
        rest = c.readUntilTagged(b"f") if b"f OK" not in data else []
        c.close()
        return whileSlow, rest
    whileSlow, rest = await inThread(slowFetch)
    # The proxy read ahead only what its buffers hold, not the whole message.
    assert whileSlow < chunks // 2
    assert len(sent(received, rb"BODY\.PEEK\[\]<")) == chunks


@pytest_twisted.ensureDeferred
async def test_a_fetch_of_flags_again_needs_nothing_from_upstream(recorded):
    upstream, proxy, received = recorded
    for _ in range(3):
        upstream.deliver(MESSAGE)

    def fetches():
        c = selected(proxy)
        first = c.command(b"a", b"FETCH 1:* (FLAGS RFC822.SIZE)")
        asked = len(sent(received, rb"INTERNALDATE"))
        again = c.command(b"b", b"FETCH 1:* (FLAGS RFC822.SIZE)")
        c.close()
        return first, asked, again
    first, asked, again = await inThread(fetches)
    assert first[:-1] == again[:-1] and len(first[:-1]) == 3
    assert asked == 1
    assert len(sent(received, rb"INTERNALDATE")) == 1  # dates and sizes never change
