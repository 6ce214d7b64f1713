"""
NOTIFY's memory and QRESYNC's resync time, idlemail and Dovecot side by side in one run
(issue 16):

    python -m bench.condstore [--servers idlemail,dovecot] [-n 200] [--messages 20000]

1. Memory per NOTIFY session: N sessions, each with INBOX selected and
   NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))
   (MAILBOXES (Lists Lists/python Sent Archive) (MessageNew MessageExpunge));
   the server's RSS and PSS growth divided by N, and beside it that of N plain idlers
   (SELECT INBOX, IDLE) of a fresh server of the same kind. Then one APPEND into Lists
   from another connection: the time until each session has read its STATUS push.
2. QRESYNC: a folder of --messages messages is selected once (UIDVALIDITY and
   HIGHESTMODSEQ noted); another client flags 50 messages and expunges 50 others; then
   SELECT Big (QRESYNC (uidvalidity modseq)) is timed to its tagged OK (the median of
   --repeat), its VANISHED (EARLIER) and FETCH responses counted; and beside it the resync
   of a client without QRESYNC: SELECT Big and UID FETCH 1:* (FLAGS).

Each figure comes from a fresh server process; the Maildir is made the same way for both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat
from bench.bigfolder import makeFolder
from bench.figures import fmt, machineNote, markdownTable, percentiles, publish
from bench.imapload import Connection
from bench.servers import (BENCH_IDLEMAIL_CONFIG, DovecotBenchServer, IdlemailServer,
                           chosenServers, makeMaildir)

HOST = "127.0.0.1"
USERS = {"alice": "alicepw"}
WATCHED = ("Lists", "Lists/python", "Sent", "Archive")
NOTIFY = (b"NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (MAILBOXES ("
          + b" ".join(n.encode() for n in WATCHED) + b") (MessageNew MessageExpunge))")
MESSAGE = b"From: list@example.org\r\nSubject: news\r\n\r\nA message for the list.\r\n"
FLAGGED = range(1, 20001, 400)  # 50 UIDs of a 20,000-message folder: flagged
EXPUNGED = range(201, 20001, 400)  # 50 others: expunged


def makeServer(kind: str, workdir: Path):
    if kind == "idlemail":
        server = IdlemailServer(workdir, USERS, serverConfig=BENCH_IDLEMAIL_CONFIG)
        server.prepare()
    elif kind == "dovecot":
        server = DovecotBenchServer(workdir, USERS)
        # Dovecot offers NOTIFY only with its mailbox list index.
        server.server.extraConfig += "mailbox_list_index = yes\n"
    else:
        raise SystemExit(f"bench: unknown server {kind!r} (idlemail, dovecot)")
    maildir = makeMaildir(server.mailRoot, "alice")
    for name in WATCHED:
        makeFolder(maildir, name.replace("/", "."), 0)
    return server, maildir


# --- 1. memory per NOTIFY session, and its push ------------------------------------------

async def openSessions(port: int, n: int, notify: bool) -> list[Connection]:
    sessions = []
    for _ in range(n):
        conn = await Connection.open(HOST, port)
        await conn.login("alice", USERS["alice"])
        await conn.select("INBOX")
        if notify:
            await conn.command(NOTIFY)
        else:
            conn.writer.write(b"i IDLE\r\n")
            if not (await conn.reader.readline()).startswith(b"+"):
                raise RuntimeError("IDLE refused")
        sessions.append(conn)
    return sessions


async def pushTimes(port: int, sessions: list[Connection], deadline: float) -> tuple[list, int]:
    """One APPEND into Lists; the seconds until each session read its STATUS of Lists."""
    async def waitFor(conn, start):
        while True:
            line = await conn.readResponse()
            if line.startswith(b'* STATUS "Lists"') or line.startswith(b"* STATUS Lists "):
                return time.perf_counter() - start
    appender = await Connection.open(HOST, port)
    await appender.login("alice", USERS["alice"])
    start = time.perf_counter()
    await appender.command(b'APPEND "Lists" {%d+}\r\n' % len(MESSAGE) + MESSAGE)
    waits = [asyncio.wait_for(waitFor(c, start), deadline) for c in sessions]
    results = await asyncio.gather(*waits, return_exceptions=True)
    appender.close()
    times = [r for r in results if isinstance(r, float)]
    return times, len(results) - len(times)


async def memoryPer(server, n: int, notify: bool, deadline: float) -> dict:
    await asyncio.sleep(0.5)
    before = procstat.memory(server.pid)
    sessions = await openSessions(server.port, n, notify)
    await asyncio.sleep(1.0)
    after = procstat.memory(server.pid)
    out = {"rss_kb": (after.rss_kb - before.rss_kb) / n,
           "pss_kb": (after.pss_kb - before.pss_kb) / n, "processes": after.processes}
    if notify:
        times, missed = await pushTimes(server.port, sessions, deadline)
        out["push"] = {**percentiles(times), "missed": missed}
    for conn in sessions:
        conn.close()
    return out


# --- 2. QRESYNC of a big folder after 100 changes --------------------------------------

def uidSet(uids) -> bytes:
    return b",".join(b"%d" % u for u in uids)


async def qresync(port: int, repeat: int) -> dict:
    conn = await Connection.open(HOST, port, timeout=120)
    await conn.login("alice", USERS["alice"])
    await conn.command(b"ENABLE QRESYNC")
    lines = await conn.command(b"SELECT Big", timeout=600)
    validity = int(next(re.search(rb"UIDVALIDITY (\d+)", x).group(1) for x in lines
                        if b"UIDVALIDITY" in x))
    modseq = int(next(re.search(rb"HIGHESTMODSEQ (\d+)", x).group(1) for x in lines
                      if b"HIGHESTMODSEQ" in x))
    conn.close()
    other = await Connection.open(HOST, port)
    await other.login("alice", USERS["alice"])
    await other.select("Big")
    await other.command(b"UID STORE " + uidSet(FLAGGED) + b" +FLAGS.SILENT (\\Flagged)")
    await other.command(b"UID STORE " + uidSet(EXPUNGED) + b" +FLAGS.SILENT (\\Deleted)")
    await other.command(b"EXPUNGE", timeout=120)
    other.close()
    resyncing = await Connection.open(HOST, port)
    await resyncing.login("alice", USERS["alice"])
    await resyncing.command(b"ENABLE QRESYNC")
    times, vanished, fetched = [], 0, 0
    for _ in range(repeat):
        t = time.perf_counter()
        lines = await resyncing.command(b"SELECT Big (QRESYNC (%d %d))" % (validity, modseq),
                                        timeout=600)
        times.append(time.perf_counter() - t)
        vanished = sum(_count(x[len(b"* VANISHED (EARLIER) "):]) for x in lines
                       if x.startswith(b"* VANISHED (EARLIER) "))
        fetched = sum(1 for x in lines if b" FETCH " in x)
    resyncing.close()
    plain = await Connection.open(HOST, port)
    await plain.login("alice", USERS["alice"])
    full = []
    for _ in range(repeat):
        t = time.perf_counter()
        await plain.command(b"SELECT Big", timeout=600)
        await plain.command(b"UID FETCH 1:* (FLAGS)", timeout=600)
        full.append(time.perf_counter() - t)
    plain.close()
    return {"qresync_ms": statistics.median(times) * 1000, "vanished": vanished,
            "fetched": fetched, "full_ms": statistics.median(full) * 1000,
            "qresync_all_ms": [t * 1000 for t in times]}


def _count(uidset: bytes) -> int:
    total = 0
    for part in uidset.strip().split(b","):
        lo, _, hi = part.partition(b":")
        total += int(hi or lo) - int(lo) + 1
    return total


# --- running -------------------------------------------------------------------------

def measure(kind: str, scratch: Path, args) -> dict:
    result: dict = {"server": kind}
    for part in ("idlers", "notify", "qresync"):
        server, maildir = makeServer(kind, scratch / f"{kind}-{part}")
        if part == "qresync":
            makeFolder(maildir, "Big", args.messages)
        print(f"bench: {kind} {part} ...", file=sys.stderr, flush=True)
        server.start()
        try:
            if part == "qresync":
                work = qresync(server.port, args.repeat)
            else:
                work = memoryPer(server, args.n, part == "notify", args.deadline)
            result[part] = asyncio.run(asyncio.wait_for(work, args.timeout))
        except (asyncio.TimeoutError, RuntimeError, ConnectionError) as e:
            result[part] = {"error": repr(e)[:200]}
        finally:
            server.stop()
    return result


def _get(result: dict, *path):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def table(results: list[dict], args) -> str:
    rows = [
        ("memory per NOTIFY session, RSS (kB)", ("notify", "rss_kb")),
        ("memory per NOTIFY session, PSS (kB)", ("notify", "pss_kb")),
        ("memory per plain idler, RSS (kB)", ("idlers", "rss_kb")),
        ("memory per plain idler, PSS (kB)", ("idlers", "pss_kb")),
        ("server processes with N NOTIFY sessions", ("notify", "processes")),
        ("APPEND into Lists -> STATUS push p50 (ms)", ("notify", "push", "p50")),
        ("APPEND into Lists -> STATUS push p99 (ms)", ("notify", "push", "p99")),
        ("STATUS pushes missed", ("notify", "push", "missed")),
        (f"SELECT (QRESYNC) of {args.messages:,} messages after 100 changes, median (ms)",
         ("qresync", "qresync_ms")),
        ("  UIDs in its VANISHED (EARLIER)", ("qresync", "vanished")),
        ("  FETCH responses in it", ("qresync", "fetched")),
        ("resync without QRESYNC: SELECT + UID FETCH 1:* (FLAGS), median (ms)",
         ("qresync", "full_ms")),
    ]
    servers = [r["server"] for r in results]
    out = [[label, *[fmt(_get(r, *path)) for r in results]] for label, path in rows]
    for r in results:
        for part in ("idlers", "notify", "qresync"):
            if "error" in (r.get(part) or {}):
                out.append([f"error ({r['server']}, {part})", r[part]["error"]])
    return markdownTable(["figure", *servers], out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.condstore",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("--servers", default="idlemail,dovecot")
    p.add_argument("-n", type=int, default=200, help="NOTIFY sessions (and idlers)")
    p.add_argument("--messages", type=int, default=20_000, help="messages of the big folder")
    p.add_argument("--repeat", type=int, default=5, help="QRESYNC SELECTs timed")
    p.add_argument("--deadline", type=float, default=20.0,
                   help="seconds a STATUS push may take before it counts as missed")
    p.add_argument("--timeout", type=float, default=900.0, help="per server and part")
    args = p.parse_args(argv)
    if args.messages < 20_000:
        print("bench: --messages below 20000 leaves some of the 100 changes out",
              file=sys.stderr)
    servers = chosenServers(args.servers)
    if servers is None:
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-condstore-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        for kind in servers:
            results.append(measure(kind, Path(scratch), args))
    notes = [f"N = {args.n} sessions; NOTIFY watches INBOX (selected) and "
             f"{', '.join(WATCHED)}; the big folder: {args.messages:,} messages numbered "
             f"in a dovecot-uidlist, 50 flagged and 50 expunged by another client",
             machineNote()]
    publish("condstore", table(results, args), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
