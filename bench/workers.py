"""
`[server] workers = N` side by side: many idlers of one mailbox on one port, one APPEND at a
time from another connection (and Maildir drops), for each worker count in one run.

    python -m bench.workers -n 2000 --workers 1,2 -k 20

For each N and worker count: a fresh twistd, N idlers (connect time), K APPENDs and K drops
each timed to every idler's `* n EXISTS` (p50/p99/max, missed), the server's RSS (all its
processes). The open-files limit of this process (and so of the server it starts) is raised
to its hard limit first. Prints one Markdown table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat
from bench.figures import fmt, machineNote, noteErrors, percentiles, publish
from bench.idle import lookup
from bench.imapload import Board, Connection, MaildirDrop, deliverAll, openIdlers
from bench.servers import BENCH_IDLEMAIL_CONFIG, IdlemailServer

USERS = {"alice": "alicepw"}


class Appender(Connection):
    """APPENDs whose refusals are counted, not raised (the push is what is measured here;
    a refusal would be a bug, and is shown)."""

    refused = 0

    async def append(self, message: bytes, mailbox: str = "INBOX") -> None:
        answer, _ = await self.exchange(
            b'APPEND "%s" {%d+}\r\n' % (mailbox.encode(), len(message)) + message)
        if not answer.startswith(b"OK"):
            self.refused += 1


def raiseOpenFiles() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def openFilesFor(n: int) -> int | None:
    """The open-files limit, raised to its hard limit; None (said why) if it is too low
    for C{n} idlers."""
    files = raiseOpenFiles()
    if files < n + 200:
        print(f"bench: only {files} open files allowed; N={n} needs more", file=sys.stderr)
        return None
    return files


async def measure(server, n: int, k: int, deadline: float) -> dict:
    host, port = "127.0.0.1", server.port
    result: dict = {"workers": server.workers, "n": n, "k": k}
    await asyncio.sleep(2.0)  # every worker started (one greeting says only one is)
    before = procstat.memory(server.pid)
    board = Board()
    t = time.perf_counter()
    idlers, errors = await openIdlers(host, port, "alice", USERS["alice"], n, board,
                                      concurrency=200)
    result["connect_s"] = round(time.perf_counter() - t, 2)
    noteErrors(result, errors)
    await asyncio.sleep(1.0)
    after = procstat.memory(server.pid)
    result["processes"] = after.processes
    result["split"] = " / ".join(str(c) for c in sorted(connectionsPerWorker(server.pid, port),
                                                          reverse=True))
    result["rss_per_idler_kb"] = (after.rss_kb - before.rss_kb) / max(len(idlers), 1)
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    await reader.readline()
    appender = Appender(reader, writer)
    await appender.login("alice", USERS["alice"])
    lat, missed = await deliverAll("append", idlers, board, k, appender=appender,
                                   deadline=deadline)
    result["append"] = {**percentiles(lat), "missed": missed, "refused": appender.refused}
    appender.close()
    lat, missed = await deliverAll("drop", idlers, board, k,
                                   drop=MaildirDrop(str(server.maildir("alice"))),
                                   deadline=deadline)
    result["drop"] = {**percentiles(lat), "missed": missed}
    for idler in idlers:
        idler.close()
    return result


def connectionsPerWorker(parent: int, port: int) -> list[int]:
    """How many connections to C{port} each process under C{parent} holds (the kernel,
    not idlemail, picks the worker that accepts each)."""
    inodes: dict[int, int] = {}  # socket inode -> local port, of established TCP sockets
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01":  # ESTABLISHED
                inodes[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    counts = []
    for pid in procstat.tree(parent):
        if pid == parent and len(procstat.tree(parent)) > 1:
            continue  # the supervising parent accepts nothing
        held = 0
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and inodes.get(int(target[8:-1])) == port:
                held += 1
        counts.append(held)
    return counts


def runOne(workers: int, n: int, args, scratch: Path) -> dict:
    server = IdlemailServer(scratch / f"w{workers}-{n}", USERS,
                            serverConfig=(*BENCH_IDLEMAIL_CONFIG, f"workers = {workers}"))
    server.workers = workers
    server.start()
    try:
        return asyncio.run(asyncio.wait_for(measure(server, n, args.k, args.deadline),
                                            args.timeout))
    except asyncio.TimeoutError:
        return {"workers": workers, "n": n, "error": f"timed out after {args.timeout} s"}
    finally:
        server.stop()


FIGURES = [
    ("connect N idlers (s)", ("connect_s",)),
    ("connect errors", ("connect_errors",)),
    ("APPEND → EXISTS p50 (ms)", ("append", "p50")),
    ("APPEND → EXISTS p99 (ms)", ("append", "p99")),
    ("APPEND → EXISTS max (ms)", ("append", "max")),
    ("APPEND missed", ("append", "missed")),
    ("APPEND answered NO", ("append", "refused")),
    ("drop → EXISTS p50 (ms)", ("drop", "p50")),
    ("drop → EXISTS p99 (ms)", ("drop", "p99")),
    ("drop missed", ("drop", "missed")),
    ("RSS per idler, all processes (kB)", ("rss_per_idler_kb",)),
    ("idlers per worker (the kernel's pick)", ("split",)),
    ("server processes", ("processes",)),
]


def table(results: list[dict], counts: list[int], ns: list[int]) -> str:
    head = "| N | figure | " + " | ".join(f"workers = {w}" for w in counts) + " |"
    lines = [head, "|" + "---|" * (len(counts) + 2)]
    for n in ns:
        byCount = {r["workers"]: r for r in results if r["n"] == n}
        for label, path in FIGURES:
            cells = [fmt(lookup(byCount.get(w, {}), path)) for w in counts]
            lines.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
        for w in counts:
            if "error" in byCount.get(w, {}):
                lines.append(f"| {n} | error (workers = {w}) | {byCount[w]['error']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n")[1])
    p.add_argument("-n", default="2000", help="idler counts, comma separated")
    p.add_argument("--workers", default="1,2", help="worker counts, comma separated")
    p.add_argument("-k", type=int, default=20, help="deliveries of each kind")
    p.add_argument("--deadline", type=float, default=30.0,
                   help="seconds an idler may take before a delivery counts as missed")
    p.add_argument("--timeout", type=float, default=1800.0, help="per run")
    args = p.parse_args(argv)
    ns = [int(x) for x in args.n.split(",")]
    counts = [int(x) for x in args.workers.split(",")]
    files = openFilesFor(max(ns))
    if files is None:
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-bench-") as scratch:
        for n in ns:
            for w in counts:
                print(f"bench: workers={w} N={n} ...", file=sys.stderr, flush=True)
                results.append(runOne(w, n, args, Path(scratch)))
    notes = [f"open files: {files}; passwords {{PLAIN}} (the logins are not what is measured)",
             machineNote()]
    publish("workers", table(results, counts, ns), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
