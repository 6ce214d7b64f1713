"""
The attacks of issue 12, each replayed by raw clients on 127.0.0.1 against a running idlemail
server and measured on the server's process. Every attack is bounded in time (C{opts.cap},
C{opts.seconds}) and returns L{Figure}s; starting and stopping the server is the caller's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench import procstat
from bench.figures import percentiles
from bench.imapload import Connection

HOST = "127.0.0.1"
MB = 1024 * 1024
APPEND_LITERAL = 52428800  # 50 MiB, idlemail's default append_limit
# Catastrophic backtracking for a regex matcher: 30 stars around a literal that no mailbox
# name holds ("***...***" taken literally), against a mailbox with a long name.
LIST_PATTERN = "*" * 15 + "..." + "*" * 15
LONG_MAILBOX = "Lists/python-announce-list-archive"
SEARCH_KEYS = 4500
SEQUENCE_SET_OCTETS = 64000


@dataclass
class Figure:
    attack: str
    figure: str
    shown: str  # the value as printed ("> 30 s" when a wait hit its cap)
    value: float | int | None = None
    goal: str = ""
    met: bool | None = None  # None: a figure for context, without a goal


def capped(cap: float) -> str:
    return f"> {cap:g} s"


async def openRaw(port: int, timeout: float):
    """A raw connection and its greeting line."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, port, limit=1 << 20), timeout)
    greeting = await asyncio.wait_for(reader.readline(), timeout)
    return reader, writer, greeting


async def openUser(port: int, user: str, password: str, cap: float,
                   mailbox: str | None = "INBOX") -> Connection:
    conn = await Connection.open(HOST, port, timeout=cap)
    await conn.login(user, password, timeout=cap)
    if mailbox:
        await conn.select(mailbox, timeout=cap)
    return conn


class ServerMemory:
    """The server's RSS against a baseline taken now; its peak is VmHWM, reset now."""

    def __init__(self, pid: int):
        self.pid = pid
        self.baselineKb = procstat.rssKb(pid)
        procstat.resetPeak(pid)

    def peakMb(self) -> float:
        return procstat.peakKb(self.pid) / 1024

    def peakGrowthMb(self) -> float:
        return (procstat.peakKb(self.pid) - self.baselineKb) / 1024

    async def settle(self, quiet: float, cap: float) -> None:
        """Wait until the peak has not grown for C{quiet} s, at most C{cap} s."""
        deadline = time.monotonic() + cap
        last, since = procstat.peakKb(self.pid), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            await asyncio.sleep(0.25)
            peak = procstat.peakKb(self.pid)
            if peak > last + 256:
                last, since = peak, time.monotonic()


def growthFigure(attack: str, memory: ServerMemory) -> Figure:
    growth = memory.peakGrowthMb()
    return Figure(attack, "server peak RSS growth (MB)", f"{growth:.1f}", growth, "< 20",
                  growth < 20)


async def streamFor(writer, chunk: bytes, total: int, deadline: float) -> int:
    """Write C{chunk} until C{total} octets or the deadline (waiting whenever the
    transport's buffer is full); the octets written."""
    sent = 0
    try:
        while sent < total:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            writer.write(chunk)
            sent += len(chunk)
            await asyncio.wait_for(writer.drain(), left)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    return sent


def firstLine(task: asyncio.Task) -> str:
    if not task.done():
        task.cancel()
        return "(nothing)"
    if task.exception() is not None:
        return f"({type(task.exception()).__name__})"
    line = task.result().strip()
    return line[:60].decode(errors="replace") if line else "(closed)"


# --- a. pre-auth APPEND -------------------------------------------------------------------
async def preauthAppend(server, opts) -> list[Figure]:
    """8 connections, never logged in, each streaming APPEND's 50 MiB non-synchronising
    literal (at most C{opts.append_mb} MB each, C{opts.seconds} s in all)."""
    name = "a. pre-auth APPEND"
    memory = ServerMemory(server.pid)
    deadline = time.monotonic() + opts.seconds
    chunk = (b"X" * 1022 + b"\r\n") * 64

    async def one():
        reader, writer, _ = await openRaw(server.port, opts.cap)
        writer.write(b"A APPEND INBOX {%d+}\r\n" % APPEND_LITERAL)
        heard = asyncio.ensure_future(reader.readline())
        sent = await streamFor(writer, chunk, min(opts.append_mb * MB, APPEND_LITERAL), deadline)
        if sent == APPEND_LITERAL:  # the whole literal: end the command so it is answered
            writer.write(b"\r\n")
            await asyncio.wait([heard], timeout=5)
        return sent, heard, writer

    runs = await asyncio.gather(*(one() for _ in range(opts.append_connections)))
    await memory.settle(quiet=2.0, cap=10.0)
    figures = [growthFigure(name, memory)]
    sentMb = sum(sent for sent, _, _ in runs) / MB
    figures.append(Figure(name, f"literal data sent by {len(runs)} connections (MB)",
                          f"{sentMb:.0f}", sentMb))
    figures.append(Figure(name, "server's answer", firstLine(runs[0][1])))
    for _, _, writer in runs:
        writer.close()
    return figures


# --- b. clients that never read -------------------------------------------------------------
async def pipelinedCapability(server, opts) -> list[Figure]:
    """One connection pipelining C{opts.capability_mb} MB of CAPABILITY, reading nothing."""
    name = "b. no-read CAPABILITY"
    memory = ServerMemory(server.pid)
    _, writer, _ = await openRaw(server.port, opts.cap)
    chunk = b"a CAPABILITY\r\n" * 4681  # 64 kB
    sent = await streamFor(writer, chunk, opts.capability_mb * MB,
                           time.monotonic() + opts.seconds)
    await memory.settle(quiet=3.0, cap=opts.seconds)
    figures = [growthFigure(name, memory),
               Figure(name, "commands written (MB)", f"{sent / MB:.1f}", sent / MB)]
    writer.close()
    return figures


async def unreadFetch(server, opts, user: str, password: str) -> list[Figure]:
    """Five pipelined C{FETCH 1:* BODY.PEEK[]} of a ~100 MB mailbox, answers never read."""
    name = "b. no-read FETCH"
    warm = await openUser(server.port, user, password, opts.cap)  # the folder is opened once
    await warm.command(b"LOGOUT", opts.cap)
    warm.close()
    memory = ServerMemory(server.pid)
    conn = await openUser(server.port, user, password, opts.cap)
    conn.writer.write(b"".join(b"f%d FETCH 1:* BODY.PEEK[]\r\n" % i for i in range(5)))
    await memory.settle(quiet=3.0, cap=opts.seconds)
    figures = [growthFigure(name, memory)]
    conn.close()
    return figures


# --- c. one command that stalls everyone ---------------------------------------------------
async def stallDuringCommand(server, opts, attack: str, user: str, password: str,
                             mailbox: str | None, line: bytes) -> list[Figure]:
    """
    C{line} from a logged-in client; meanwhile new clients connect one after another (0.25 s
    apart) and each times its greeting. Reported: the worst greeting, and when the attack
    command itself was answered.
    """
    conn = await openUser(server.port, user, password, opts.cap, mailbox)
    t0 = time.perf_counter()

    async def answered():
        answer, _ = await conn.exchange(line, opts.cap)
        return time.perf_counter() - t0, answer.split(b" ")[0].decode(errors="replace")

    command = asyncio.ensure_future(answered())
    await asyncio.sleep(0.2)
    worst, probes, stuck = 0.0, 0, False
    while True:
        probes += 1
        t = time.perf_counter()
        try:
            _, writer, _ = await openRaw(server.port, opts.cap)
            writer.close()
        except (asyncio.TimeoutError, OSError):
            stuck = True
            break
        worst = max(worst, time.perf_counter() - t)
        if command.done() or time.perf_counter() - t0 > opts.cap:
            break
        await asyncio.sleep(0.25)
    if stuck:
        greeting = Figure(attack, "new client's time to greeting (worst)", capped(opts.cap),
                          None, "< 100 ms", False)
    else:
        greeting = Figure(attack, f"new client's time to greeting (worst of {probes})",
                          f"{worst * 1000:.0f} ms", worst * 1000, "< 100 ms", worst < 0.1)
    if command.done() and command.exception() is None:
        took, status = command.result()
        done = Figure(attack, "the attack command answered after", f"{took:.2f} s ({status})",
                      took)
    else:
        command.cancel()
        done = Figure(attack, "the attack command answered after", capped(opts.cap))
    conn.close()
    return [greeting, done]


def listAttack() -> bytes:
    return b'LIST "" "%s"' % LIST_PATTERN.encode()


def searchAttack() -> bytes:
    return b"SEARCH " + b" ".join([b"NOT TEXT x"] * SEARCH_KEYS)


def sequenceSetAttack(messages: int) -> bytes:
    """UID FETCH of a 64 kB set naming each of the messages over and over."""
    parts, size, uid = [], 0, 0
    while size < SEQUENCE_SET_OCTETS:
        uid = uid % messages + 1
        parts.append(b"%d" % uid)
        size += len(parts[-1]) + 1
    return b"UID FETCH " + b",".join(parts) + b" (FLAGS)"


# --- d. login storm ---------------------------------------------------------------------------
async def loginStorm(server, opts, stormUsers: dict, other: tuple[str, str]) -> list[Figure]:
    """
    C{opts.storm} connections at once, spread over C{stormUsers}, each LOGIN + SELECT INBOX +
    IDLE; meanwhile C{other} (logged in beforehand) repeats SELECT INBOX + FETCH of its
    messages' flags and bodies.
    """
    name = "d. login storm"
    reader = await openUser(server.port, *other, opts.cap)
    memory = ServerMemory(server.pid)
    users = list(stormUsers.items())
    t0 = time.perf_counter()

    opened: list[Connection] = []  # all closed once every one has an outcome

    async def one(i):
        user, password = users[i % len(users)]
        conn = await Connection.open(HOST, server.port, timeout=opts.cap)
        opened.append(conn)
        await conn.login(user, password, timeout=opts.cap)
        await conn.select(timeout=opts.cap)
        conn.writer.write(b"i IDLE\r\n")
        while True:
            line = await conn.reader.readline()
            if not line:
                raise ConnectionError("closed before IDLE's continuation")
            if line.startswith(b"+"):
                break
        return time.perf_counter() - t0

    async def bounded(i):
        return await asyncio.wait_for(one(i), opts.cap)

    storm = asyncio.gather(*(bounded(i) for i in range(opts.storm)), return_exceptions=True)
    reads, readsStuck = [], False
    while not storm.done() and time.perf_counter() - t0 < opts.cap:
        t = time.perf_counter()
        try:
            await reader.command(b'SELECT "INBOX"', opts.cap)
            await reader.command(b"FETCH 1:* (FLAGS BODY.PEEK[])", opts.cap)
        except asyncio.TimeoutError:
            readsStuck = True
            break
        reads.append(time.perf_counter() - t)
        await asyncio.sleep(0.1)
    peak = memory.peakMb()  # before the storm's connections close
    outcomes = await storm
    peak = max(peak, memory.peakMb())
    for conn in [reader, *opened]:
        conn.close()
    times = [o for o in outcomes if isinstance(o, float)]
    stuck = sum(isinstance(o, asyncio.TimeoutError) for o in outcomes)
    refused = sum(isinstance(o, RuntimeError) for o in outcomes)
    failed = len(outcomes) - len(times) - stuck - refused
    if len(times) == len(outcomes):
        allIdle = max(times)
        idle = Figure(name, f"all {len(outcomes)} idling after", f"{allIdle:.1f} s", allIdle,
                      "< 10 s", allIdle < 10)
    else:
        idle = Figure(name, f"all {len(outcomes)} idling after",
                      f"{capped(opts.cap) if stuck else 'never'}: {len(times)} idling, "
                      f"{refused} refused, {stuck} stuck, {failed} dropped", None, "< 10 s",
                      False)
    figures = [idle, Figure(name, "server peak RSS (MB)", f"{peak:.0f}", peak, "< 250",
                            peak < 250),
               Figure(name, "server RSS before the storm (MB)",
                      f"{memory.baselineKb / 1024:.0f}", memory.baselineKb / 1024)]
    if readsStuck:
        figures.append(Figure(name, "another user's SELECT + FETCH (worst)", capped(opts.cap),
                              None, "< 1 s", False))
    else:
        worst = max(reads)
        figures.append(Figure(name, f"another user's SELECT + FETCH (worst of {len(reads)}, "
                              f"p50 {percentiles(reads)['p50']:.0f} ms)",
                              f"{worst * 1000:.0f} ms", worst * 1000, "< 1 s", worst < 1))
    return figures


# --- e. reconnect storm -------------------------------------------------------------------------
async def reconnectStorm(server, opts) -> list[Figure]:
    """C{opts.clients} connections at once, each reading its greeting (and then holding on
    until every one has an outcome)."""
    name = "e. reconnect storm"
    within = 10.0

    async def one():
        t = time.perf_counter()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, server.port), opts.cap)
            line = await asyncio.wait_for(reader.readline(),
                                          max(0.0, opts.cap - (time.perf_counter() - t)))
        except asyncio.TimeoutError:
            return "stuck", None, writer
        except OSError:
            return "failed", None, writer
        took = time.perf_counter() - t
        if line.startswith(b"* OK"):
            return "greeted", took, writer
        return ("refused" if line.startswith(b"* BYE") else "closed"), took, writer

    outcomes = await asyncio.gather(*(one() for _ in range(opts.clients)))
    for _, _, writer in outcomes:
        if writer is not None:
            writer.close()
    greetTimes = [t for kind, t, _ in outcomes if kind == "greeted"]
    onTime = sum(t <= within for t in greetTimes)
    late = len(greetTimes) - onTime
    count = {k: sum(o[0] == k for o in outcomes) for k in ("stuck", "refused", "closed",
                                                             "failed")}
    n = len(outcomes)
    spread = percentiles(greetTimes)
    return [
        Figure(name, f"greeted within {within:g} s", f"{onTime}/{n}", onTime, f"{n}/{n}",
               onTime == n),
        Figure(name, f"no greeting within {opts.cap:g} s (stuck)", str(count["stuck"]),
               count["stuck"], "0", count["stuck"] == 0),
        Figure(name, f"greeted late (> {within:g} s)", str(late), late),
        Figure(name, "refused (* BYE) / closed / connect failed",
               f"{count['refused']} / {count['closed']} / {count['failed']}"),
        Figure(name, "greeting time p50 / p99 / max (ms)",
               " / ".join("–" if spread[k] is None else f"{spread[k]:.0f}"
                          for k in ("p50", "p99", "max"))),
    ]
