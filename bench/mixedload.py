"""
The mixed-load generator: N asyncio clients, each looping one ordinary mail session until the
deadline, every command timed from its write to its tagged answer.

One loop: connect, LOGIN, LIST, STATUS, SELECT INBOX, FETCH (FLAGS ENVELOPE) of the last ten,
FETCH BODY.PEEK[] of one, STORE +FLAGS (\\Seen) on one, STORE +FLAGS (\\Deleted) on another,
EXPUNGE, APPEND (LITERAL+) of a 3 kB message, LOGOUT. Each loop adds one message and removes
about one, so the mailbox keeps its size. A C{NO} (another client expunged the message first)
counts as an answered command; a C{BAD}, a timeout or a dropped connection is an error.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from bench.imapload import Connection

HOST = "127.0.0.1"
KINDS = ("LOGIN", "LIST", "STATUS", "SELECT", "FETCH envelope", "FETCH body", "STORE",
         "EXPUNGE", "APPEND", "LOGOUT")
COMMAND_TIMEOUT = 30.0


def message(n: int) -> bytes:
    """A plain 3 kB message with the headers an ENVELOPE is made of."""
    head = (b"From: Sender %d <sender%d@example.org>\r\nTo: reader@example.org\r\n"
            b"Cc: list@example.org\r\nSubject: mixed load message %d\r\n"
            b"Date: Mon, 6 Jan 2025 10:%02d:00 +0000\r\nMessage-ID: <mixed-%d@example.org>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            % (n % 97, n % 97, n, n % 60, n))
    return head + b"A line of an ordinary message body, long enough to look real.\r\n" * 45


@dataclass
class Tally:
    """What every client measured: seconds per command kind, NO answers, errors."""
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    refused: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    errors: list[str] = field(default_factory=list)
    sessions: int = 0

    @property
    def commands(self) -> int:
        return sum(len(t) for t in self.times.values())


class Session:
    """One client's connection, timing each command into the tally."""

    def __init__(self, conn: Connection, tally: Tally):
        self.conn, self.tally = conn, tally

    async def timed(self, kind: str, line: bytes) -> list[bytes]:
        t = time.perf_counter()
        answer, untagged = await self.conn.exchange(line, COMMAND_TIMEOUT)
        self.tally.times[kind].append(time.perf_counter() - t)
        if answer.startswith(b"NO"):
            self.tally.refused[kind] += 1
        elif not answer.startswith(b"OK"):
            raise RuntimeError(f"{kind}: {answer[:80]!r}")
        return untagged


def exists(untagged: list[bytes]) -> int:
    count = 0
    for line in untagged:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == b"EXISTS":
            count = int(parts[1])
    return count


async def oneLoop(session: Session, user: str, password: str, rng: random.Random,
                  serial: int, deadline: float) -> None:
    """One mail session; stops between commands once the deadline has passed."""
    steps = [("LOGIN", b'LOGIN "%s" "%s"' % (user.encode(), password.encode())),
             ("LIST", b'LIST "" "*"'),
             ("STATUS", b'STATUS "INBOX" (MESSAGES UIDNEXT UNSEEN)'),
             ("SELECT", b'SELECT "INBOX"')]
    count = 0
    for kind, line in steps:
        if time.monotonic() >= deadline:
            return
        untagged = await session.timed(kind, line)
        if kind == "SELECT":
            count = exists(untagged)
    body = message(serial)
    later = [("APPEND", b'APPEND "INBOX" (\\Seen) {%d+}\r\n' % len(body) + body),
             ("LOGOUT", b"LOGOUT")]
    if count:
        later[:0] = [
            ("FETCH envelope", b"FETCH %d:%d (FLAGS ENVELOPE)" % (max(1, count - 9), count)),
            ("FETCH body", b"FETCH %d BODY.PEEK[]" % rng.randint(1, count)),
            ("STORE", b"STORE %d +FLAGS (\\Seen)" % rng.randint(1, count)),
            ("STORE", b"STORE %d +FLAGS (\\Deleted)" % rng.randint(1, count)),
            ("EXPUNGE", b"EXPUNGE")]
    for kind, line in later:
        if time.monotonic() >= deadline:
            return
        await session.timed(kind, line)


async def client(index: int, port: int, user: str, password: str, deadline: float,
                 tally: Tally) -> None:
    rng = random.Random(index)
    serial = index * 1_000_000
    while time.monotonic() < deadline:
        try:
            conn = await Connection.open(HOST, port, timeout=COMMAND_TIMEOUT)
        except (OSError, asyncio.TimeoutError, RuntimeError) as e:
            tally.errors.append(f"connect: {type(e).__name__}: {e}"[:160])
            await asyncio.sleep(0.1)  # do not spin on a server that refuses us
            continue
        try:
            serial += 1
            await oneLoop(Session(conn, tally), user, password, rng, serial, deadline)
            tally.sessions += 1
        except (OSError, asyncio.TimeoutError, RuntimeError, ConnectionError) as e:
            tally.errors.append(f"{type(e).__name__}: {e}"[:160])
        finally:
            conn.close()


async def runLoad(port: int, users: dict[str, str], clients: int,
                  seconds: float) -> tuple[Tally, float]:
    """C{clients} clients spread over C{users} for C{seconds}; the tally and the time the
    whole run took (the last commands finish a little after the deadline)."""
    tally = Tally()
    accounts = list(users.items())
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(client(i, port, *accounts[i % len(accounts)], deadline, tally)
                           for i in range(clients)))
    return tally, time.monotonic() - start
