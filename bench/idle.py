"""
Push latency, fan-out, memory and idle CPU of idlemail and Dovecot, measured in one run.

    python -m bench.idle --servers idlemail,dovecot -n 1,100,1000 -k 20

For each server and each N: a fresh server, N idlers on alice's INBOX, K deliveries by
APPEND from another connection and K by a Maildir drop, each idler timing its `* n EXISTS`.
Prints one Markdown table (ratio = dovecot / idlemail) and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat
from bench import fsyncfloor
from bench.figures import fmt, latencyRows, machineNote, noteErrors, percentiles, publish
from bench.imapload import (
    Board,
    Connection,
    MaildirDrop,
    blockingAppendLatency,
    deliverAll,
    noopRoundTrip,
    openIdlers,
)
from bench.servers import BENCH_IDLEMAIL_CONFIG, DovecotBenchServer, IdlemailServer, preload

USERS = {"alice": "alicepw", "bob": "bobpw"}


INOTIFY = "/proc/sys/fs/inotify/max_user_instances"


def readInotifyInstances() -> int:
    with open(INOTIFY) as f:
        return int(f.read())


def raiseInotifyInstances(wanted: int) -> int:
    """Dovecot's IDLE takes one inotify instance per connection: raise the per-user limit
    when we may (root), else report it."""
    current = readInotifyInstances()
    if current < wanted:
        try:
            with open(INOTIFY, "w") as f:
                f.write(str(wanted))
            print(f"bench: raised fs.inotify.max_user_instances {current} -> {wanted}",
                  file=sys.stderr)
        except OSError as e:
            print(f"bench: cannot raise fs.inotify.max_user_instances ({e.strerror}); "
                  f"Dovecot will poll beyond {current} idlers", file=sys.stderr)
    return readInotifyInstances()


def makeServer(kind: str, workdir: Path, backend: str):
    if kind == "idlemail":
        return IdlemailServer(workdir, USERS, backend=backend, serverConfig=BENCH_IDLEMAIL_CONFIG)
    if kind == "dovecot":
        return DovecotBenchServer(workdir, USERS)
    raise SystemExit(f"bench: unknown server {kind!r} (idlemail, dovecot)")


async def measure(server, n: int, k: int, args) -> dict:
    host, port = "127.0.0.1", server.port
    result: dict = {"server": server.name, "n": n, "k": k}
    if args.preload and getattr(server, "backend", "maildir") == "memory":
        conn = await Connection.open(host, port)
        await conn.login("alice", USERS["alice"])
        for i in range(args.preload):
            await conn.append(b"Subject: old %d\r\n\r\nold\r\n" % i)
        conn.close()
    await asyncio.sleep(0.5)
    before = procstat.memory(server.pid)
    board = Board()
    t = time.perf_counter()
    idlers, errors = await openIdlers(host, port, "alice", USERS["alice"], n, board)
    result["connect_s"] = round(time.perf_counter() - t, 2)
    noteErrors(result, errors)
    await asyncio.sleep(1.0)
    after = procstat.memory(server.pid)
    live = max(len(idlers), 1)
    result["memory"] = {
        "rss_before_kb": before.rss_kb, "rss_after_kb": after.rss_kb,
        "pss_before_kb": before.pss_kb, "pss_after_kb": after.pss_kb,
        "processes": after.processes,
        "rss_per_idler_kb": (after.rss_kb - before.rss_kb) / live,
        "pss_per_idler_kb": (after.pss_kb - before.pss_kb) / live,
    }
    appender = await Connection.open(host, port)  # a second connection of the same user
    await appender.login("alice", USERS["alice"])
    lat, missed = await deliverAll("append", idlers, board, k, appender=appender,
                                   deadline=args.deadline)
    result["append"] = {**percentiles(lat), "missed": missed, "samples": len(lat)}
    appender.close()
    if getattr(server, "backend", "maildir") == "maildir":
        drop = MaildirDrop(str(server.maildir("alice")))
        lat, missed = await deliverAll("drop", idlers, board, k, drop=drop,
                                       deadline=args.deadline)
        result["drop"] = {**percentiles(lat), "missed": missed, "samples": len(lat)}
    if args.cpu_seconds and n >= args.cpu_min_idlers:
        result["idle_cpu_percent"] = await procstat.idleCpuPercent(server.pid, args.cpu_seconds)
    for idler in idlers:
        idler.close()
    return result


def runOne(kind: str, n: int, args, scratch: Path) -> dict:
    workdir = scratch / f"{kind}-{n}"
    server = makeServer(kind, workdir, args.backend)
    if args.preload and (kind == "dovecot" or args.backend == "maildir"):
        from bench.servers import makeMaildir
        preload(makeMaildir(server.mailRoot, "alice"), args.preload)
    server.start()
    try:
        result = asyncio.run(asyncio.wait_for(measure(server, n, args.k, args),
                                              args.timeout))
        result["noop_rtt_ms"] = asyncio.run(noopRoundTrip(
            "127.0.0.1", server.port, "alice", USERS["alice"])) * 1000
        if n == 1:
            result["append_blocking"] = percentiles(blockingAppendLatency(
                "127.0.0.1", server.port, "alice", USERS["alice"], args.k))
        return result
    except asyncio.TimeoutError:
        return {"server": kind, "n": n, "error": f"timed out after {args.timeout} s"}
    finally:
        server.stop()
        gc.collect()


def ratio(a, b) -> str:
    if a is None or b is None or not a:
        return "–"
    return f"{b / a:.1f}×"


FIGURES = [
    *latencyRows("APPEND", "append"),
    ("APPEND → EXISTS p50, blocking client (ms)", ("append_blocking", "p50")),
    ("APPEND → EXISTS p99, blocking client (ms)", ("append_blocking", "p99")),
    *latencyRows("drop", "drop"),
    ("RSS per idler (kB)", ("memory", "rss_per_idler_kb")),
    ("PSS per idler (kB)", ("memory", "pss_per_idler_kb")),
    ("server processes", ("memory", "processes")),
    ("idle CPU (% of a core)", ("idle_cpu_percent",)),
    ("connect N (s)", ("connect_s",)),
    ("client NOOP RTT (ms)", ("noop_rtt_ms",)),
]


def lookup(result: dict, path):
    value = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def table(results: list[dict], servers: list[str], ns: list[int]) -> str:
    head = "| N | figure | " + " | ".join(servers)
    if len(servers) == 2:
        head += " | ratio"
    lines = [head + " |", "|" + "---|" * (head.count("|"))]
    for n in ns:
        byServer = {r["server"]: r for r in results if r["n"] == n}
        for label, path in FIGURES:
            values = [lookup(byServer.get(s, {}), path) for s in servers]
            if all(v is None for v in values):
                continue
            row = f"| {n} | {label} | " + " | ".join(fmt(v) for v in values)
            if len(servers) == 2:
                row += " | " + (ratio(values[0], values[1]) if "ms" in label or "kB" in label
                                or "CPU" in label else "")
            lines.append(row + " |")
        for s in servers:
            if "error" in byServer.get(s, {}):
                lines.append(f"| {n} | error ({s}) | {byServer[s]['error']} |")
    return "\n".join(lines)


def diskFloor(k: int, where: str) -> float:
    """The p50 of what one durable Maildir APPEND's syncs cost on this disk now (ms):
    APPEND -> EXISTS on Maildir cannot be below it, and it varies from run to run."""
    return fsyncfloor.measure(k, 0.05, where, variants=("grouped",))[("grouped", 0.05)]["p50"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__.split("\n")[1])
    p.add_argument("--servers", default="idlemail,dovecot")
    p.add_argument("-n", default="1,100,1000", help="idler counts, comma separated")
    p.add_argument("-k", type=int, default=20, help="deliveries of each kind")
    p.add_argument("--backend", default="maildir", choices=("maildir", "memory"),
                   help="idlemail's backend")
    p.add_argument("--preload", type=int, default=0, help="messages in INBOX beforehand")
    p.add_argument("--deadline", type=float, default=20.0,
                   help="seconds an idler may take before a delivery counts as missed")
    p.add_argument("--cpu-seconds", type=float, default=60.0)
    p.add_argument("--cpu-min-idlers", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=1800.0, help="per server and N")
    args = p.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    ns = [int(x) for x in args.n.split(",")]
    if "dovecot" in servers and not shutil.which("dovecot", path="/usr/sbin:/usr/bin:/sbin"):
        print("bench: dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return 2
    instances = raiseInotifyInstances(max(ns) + 256) if "dovecot" in servers else \
        readInotifyInstances()
    results, floors = [], []
    with tempfile.TemporaryDirectory(prefix="idlemail-bench-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        floors.append(diskFloor(args.k, scratch))
        for n in ns:
            for kind in servers:
                if kind == "dovecot" and n > 1000:
                    continue  # 10,000 is for idlemail alone
                print(f"bench: {kind} N={n} ...", file=sys.stderr, flush=True)
                results.append(runOne(kind, n, args, Path(scratch)))
        floors.append(diskFloor(args.k, scratch))
    notes = ["disk floor in this run (bench.fsyncfloor: the syncs of one durable APPEND as "
             "idlemail's Maildir backend does them, paced 50 ms apart), p50 before / after: "
             + " / ".join(f"{fmt(f)} ms" for f in floors),
             f"fs.inotify.max_user_instances = {instances}"
             + (" (Dovecot needs one per IDLE process; beyond it Dovecot polls every 30 s)"
                if instances < max(ns) else ""),
             machineNote()]
    publish("idle", table(results, servers, ns), notes,
            {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
