"""
The client side of the benchmark, on asyncio: N idlers of one mailbox, and the two ways
of delivering a message (APPEND from another connection, a Maildir drop).

Every idler records when it reads each `* n EXISTS`; a delivery's latency for an idler is
the first EXISTS at or above the expected count minus t0 (taken just before the APPEND is
written or the file is renamed into new/).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time

MESSAGE = (b"From: bench@example.org\r\nTo: alice@example.org\r\n"
           b"Subject: bench %d\r\nMessage-ID: <bench-%d@example.org>\r\n\r\nhello\r\n")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}\r\n$")


class Connection:
    """A raw IMAP connection: enough of the protocol for logging in and idling."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.tagCount = 0

    @classmethod
    async def open(cls, host: str, port: int, timeout: float = 30.0) -> "Connection":
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 20), timeout)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        greeting = await asyncio.wait_for(reader.readline(), timeout)
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"bad greeting {greeting!r}")
        return cls(reader, writer)

    async def readResponse(self) -> bytes:
        """One response line with the literals it carries inline (RFC 3501 4.3)."""
        last = await self.reader.readline()
        parts = [last]
        while True:
            if not last:
                raise ConnectionError("connection closed")
            m = _LITERAL_AT_END.search(last)
            if m is None:
                return b"".join(parts)
            parts.append(await self.reader.readexactly(int(m.group(1))))
            last = await self.reader.readline()
            parts.append(last)

    async def exchange(self, line: bytes, timeout: float = 60.0) -> tuple[bytes, list[bytes]]:
        """Send one command; return its tagged answer (without the tag) and the untagged
        responses before it, all within C{timeout} s."""
        self.tagCount += 1
        tag = b"b%d " % self.tagCount
        self.writer.write(tag + line + b"\r\n")
        return await asyncio.wait_for(self._answer(tag), timeout)

    async def _answer(self, tag: bytes) -> tuple[bytes, list[bytes]]:
        untagged = []
        while True:
            got = await self.readResponse()
            if got.startswith(tag):
                return got[len(tag):], untagged
            untagged.append(got)

    async def command(self, line: bytes, timeout: float = 60.0) -> list[bytes]:
        answer, untagged = await self.exchange(line, timeout)
        if not answer.startswith(b"OK"):
            raise RuntimeError(f"{line[:40]!r} failed: {answer!r}")
        return untagged

    async def login(self, user: str, password: str, timeout: float = 60.0) -> None:
        await self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()), timeout)

    async def select(self, mailbox: str = "INBOX", timeout: float = 60.0) -> int:
        exists = 0
        for line in await self.command(b'SELECT "%s"' % mailbox.encode(), timeout):
            parts = line.split()
            if len(parts) >= 3 and parts[2] == b"EXISTS":
                exists = int(parts[1])
        return exists

    async def append(self, message: bytes, mailbox: str = "INBOX") -> None:
        await self.command(b'APPEND "%s" {%d+}\r\n' % (mailbox.encode(), len(message)) + message)

    def close(self) -> None:
        self.writer.close()


class Idler:
    """One connection in IDLE, recording when each EXISTS arrives."""

    def __init__(self, conn: Connection, board: "Board"):
        self.conn, self.board = conn, board
        self.highest = 0
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.highest = await self.conn.select()
        self.conn.writer.write(b"i IDLE\r\n")
        while True:
            line = await asyncio.wait_for(self.conn.reader.readline(), 60)
            if line.startswith(b"+"):
                break
            self._saw(line)
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        reader = self.conn.reader
        while True:
            line = await reader.readline()
            if not line:
                return
            self._saw(line)

    def _saw(self, line: bytes) -> None:
        if line.endswith(b" EXISTS\r\n"):
            now = time.perf_counter()
            n = int(line.split()[1])
            if n > self.highest:
                self.highest = n
                self.board.arrived(self, n, now)

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        self.conn.close()


class Board:
    """What every idler has seen of the current delivery."""

    def __init__(self):
        self.target = None
        self.t0 = 0.0
        self.latencies: list[float] = []
        self.waiting: set = set()
        self.done = asyncio.Event()

    def expect(self, target: int, idlers) -> None:
        self.target, self.latencies = target, []
        self.waiting = {i for i in idlers if i.highest < target}
        self.done = asyncio.Event()
        if not self.waiting:
            self.done.set()

    def arrived(self, idler, n: int, when: float) -> None:
        if self.target is not None and n >= self.target and idler in self.waiting:
            self.waiting.discard(idler)
            self.latencies.append(when - self.t0)
            if not self.waiting:
                self.done.set()


async def openIdlers(host, port, user, password, n, board, concurrency=100):
    """N logged-in idlers, opened at most C{concurrency} at a time."""
    gate = asyncio.Semaphore(concurrency)
    idlers: list[Idler] = []

    async def one():
        async with gate:
            conn = await Connection.open(host, port)
            await conn.login(user, password)
            idler = Idler(conn, board)
            await idler.start()
            idlers.append(idler)

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return idlers, errors


class MaildirDrop:
    """Deliver like an MDA: write tmp/, then rename into new/ (t0 just before the rename)."""

    def __init__(self, maildir: str):
        self.maildir = maildir
        self.count = 0

    def prepare(self) -> tuple[str, str]:
        self.count += 1
        name = "%d.M%dP%d.bench" % (time.time(), self.count, os.getpid())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(MESSAGE % (self.count, self.count))
        return tmp, os.path.join(self.maildir, "new", name)


async def deliverAll(kind, idlers, board, k, appender=None, drop=None, deadline=20.0,
                     pause=0.05):
    """K deliveries one after another; returns (latencies in s, missed count)."""
    allLatencies, missed = [], 0
    base = max((i.highest for i in idlers), default=0)
    for j in range(k):
        target = base + j + 1
        board.expect(target, idlers)
        if kind == "append":
            msg = MESSAGE % (j, j)
            board.t0 = time.perf_counter()
            await appender.append(msg)
        else:
            tmp, new = drop.prepare()
            board.t0 = time.perf_counter()
            os.rename(tmp, new)
        latencies, late = await settle(board, target, deadline)
        missed += late
        allLatencies.extend(latencies)
        await asyncio.sleep(pause)
    return allLatencies, missed


async def settle(board: Board, target: int, deadline: float) -> tuple[list[float], int]:
    """Wait (at most C{deadline} s) until every idler the board expects has seen
    C{target}; the latencies, and how many idlers missed it."""
    try:
        await asyncio.wait_for(board.done.wait(), deadline)
    except asyncio.TimeoutError:
        pass
    missed, latencies = len(board.waiting), board.latencies
    board.target = None
    for i in board.waiting:  # a late EXISTS must not count for the next delivery
        i.highest = max(i.highest, target)
    return latencies, missed


async def noopRoundTrip(host, port, user, password, count=20) -> float:
    """Median loopback round trip of a NOOP: the client's own overhead."""
    conn = await Connection.open(host, port)
    await conn.login(user, password)
    times = []
    for _ in range(count):
        t = time.perf_counter()
        await conn.command(b"NOOP")
        times.append(time.perf_counter() - t)
    conn.close()
    times.sort()
    return times[len(times) // 2]


def blockingAppendLatency(host, port, user, password, k=20, gap=0.05) -> list[float]:
    """
    APPEND -> EXISTS for one idler with plain blocking sockets and no event loop: the
    smallest client overhead we can have (the asyncio figures include the loop's own).
    """
    import select

    def connect():
        s = socket.create_connection((host, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.recv(4096)
        return s

    def command(s, line: bytes) -> bytes:
        s.sendall(b"t " + line + b"\r\n")
        buf = b""
        while not (buf.startswith(b"t ") or b"\r\nt " in buf):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    idler, appender = connect(), connect()
    login = b'LOGIN "%s" "%s"' % (user.encode(), password.encode())
    command(idler, login)
    command(appender, login)
    command(idler, b'SELECT "INBOX"')
    idler.sendall(b"i IDLE\r\n")
    buf = b""
    while b"+ " not in buf:
        buf += idler.recv(4096)
    times = []
    for j in range(k):
        message = MESSAGE % (j, j)
        t0 = time.perf_counter()
        appender.sendall(b'a APPEND "INBOX" {%d+}\r\n' % len(message) + message + b"\r\n")
        got = b""
        while b" EXISTS\r\n" not in got:
            ready, _, _ = select.select([idler], [], [], 30)
            if not ready:
                raise TimeoutError("no EXISTS within 30 s")
            got += idler.recv(65536)
        times.append(time.perf_counter() - t0)
        reply = b""
        while b"a OK" not in reply and b"a NO" not in reply:
            reply += appender.recv(65536)
        time.sleep(gap)
    idler.sendall(b"DONE\r\n")
    idler.close()
    appender.close()
    return times
