"""
The push proxy's figures: N idlers of one Dovecot mailbox through idlemail (backend =
"remote"), side by side with the same N idlers on Dovecot directly, in one run.

    python -m bench.remote -n 1000 -k 10

For each side: a fresh Dovecot (Debian's dovecot-imapd, stock IDLE settings), N idlers on
alice's INBOX (on Dovecot, or on idlemail in front of it), then K Maildir drops into
Dovecot's Maildir (rename into new/, t0 just before), each idler timing its `* n EXISTS`.
Reported: drop -> EXISTS p50/p99/max, missed, the connections Dovecot holds for the side's
idlers (upstream connections), and the RSS/PSS of each process tree. Prints one Markdown
table and writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat
from bench.figures import fmt, machineNote, noteErrors, percentiles, publish
from bench.idle import lookup, raiseInotifyInstances
from bench.imapload import Board, MaildirDrop, deliverAll, openIdlers
from bench.servers import DovecotBenchServer, IdlemailServer, makeMaildir
from idlemail.testing.connections import establishedTo

USERS = {"alice": "alicepw", "bob": "bobpw"}


class ProxyServer(IdlemailServer):
    """idlemail as users run it in front of an upstream: twistd, C{backend = "remote"}."""

    name = "idlemail proxy"

    def __init__(self, workdir: Path, upstreamPort: int):
        super().__init__(workdir, USERS, backend="remote")
        self.upstreamPort = upstreamPort

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        listen = self.listen.format(port=self.port)
        self.config.write_text("\n".join([
            "[server]", f'listen = ["{listen}"]', 'backend = "remote"',
            "[server.remote]", f'upstream = "tcp:127.0.0.1:{self.upstreamPort}"',
            "plaintext = true"]) + "\n")


async def measure(side: str, host: str, port: int, dovecot, proxy, n: int, args) -> dict:
    result: dict = {"side": side, "n": n}
    board = Board()
    watched = [dovecot.pid] + ([proxy.pid] if proxy else [])
    before = {pid: procstat.memory(pid) for pid in watched}
    t = time.perf_counter()
    idlers, errors = await openIdlers(host, port, "alice", USERS["alice"], n, board,
                                      concurrency=args.concurrency)
    result["connect_s"] = round(time.perf_counter() - t, 2)
    noteErrors(result, errors)
    await asyncio.sleep(args.settle)  # logins' own upstream connections close meanwhile
    after = {pid: procstat.memory(pid) for pid in watched}
    result["upstream_connections"] = establishedTo(dovecot.port)
    live = max(len(idlers), 1)
    result["dovecot_memory"] = _memory(before[dovecot.pid], after[dovecot.pid], live)
    if proxy:
        result["proxy_memory"] = _memory(before[proxy.pid], after[proxy.pid], live)
    drop = MaildirDrop(str(dovecot.maildir("alice")))
    lat, missed = await deliverAll("drop", idlers, board, args.k, drop=drop,
                                   deadline=args.deadline, pause=args.pause)
    result["drop"] = {**percentiles(lat), "missed": missed, "samples": len(lat)}
    result["upstream_connections_after"] = establishedTo(dovecot.port)
    for idler in idlers:
        idler.close()
    return result


def _memory(before, after, live: int) -> dict:
    return {"rss_kb": after.rss_kb, "pss_kb": after.pss_kb, "processes": after.processes,
            "rss_per_idler_kb": (after.rss_kb - before.rss_kb) / live,
            "pss_per_idler_kb": (after.pss_kb - before.pss_kb) / live}


def loadAverage() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def runSide(side: str, n: int, args, scratch: Path) -> dict:
    loadBefore = loadAverage()  # the machine is shared: what else ran, side by side
    dovecot = DovecotBenchServer(scratch / f"dovecot-{side}", USERS)
    makeMaildir(dovecot.mailRoot, "alice")
    dovecot.start()
    proxy = None
    try:
        if side == "proxy":
            proxy = ProxyServer(scratch / "proxy", dovecot.port)
            proxy.start()
            host, port = "127.0.0.1", proxy.port
        else:
            host, port = "127.0.0.1", dovecot.port
        coroutine = measure(side, host, port, dovecot, proxy, n, args)
        result = asyncio.run(asyncio.wait_for(coroutine, args.timeout))
        return {**result, "load_before": loadBefore}
    except asyncio.TimeoutError:
        return {"side": side, "n": n, "error": f"timed out after {args.timeout} s"}
    finally:
        if proxy is not None:
            proxy.stop()
        dovecot.stop()


FIGURES = [
    ("drop → EXISTS p50 (ms)", ("drop", "p50")),
    ("drop → EXISTS p90 (ms)", ("drop", "p90")),
    ("drop → EXISTS p99 (ms)", ("drop", "p99")),
    ("drop → EXISTS max (ms)", ("drop", "max")),
    ("missed", ("drop", "missed")),
    ("connections Dovecot holds (after connecting)", ("upstream_connections",)),
    ("connections Dovecot holds (after the drops)", ("upstream_connections_after",)),
    ("Dovecot RSS (MB)", ("dovecot_memory", "rss_kb")),
    ("Dovecot PSS (MB)", ("dovecot_memory", "pss_kb")),
    ("Dovecot processes", ("dovecot_memory", "processes")),
    ("idlemail RSS (MB)", ("proxy_memory", "rss_kb")),
    ("idlemail RSS per idler (kB)", ("proxy_memory", "rss_per_idler_kb")),
    ("connect N idlers (s)", ("connect_s",)),
    ("connect errors", ("connect_errors",)),
    ("load average before the side started", ("load_before",)),
]


def inMegabytes(result: dict, path):
    value = lookup(result, path)
    if path[-1] in ("rss_kb", "pss_kb") and value is not None:
        return value / 1024
    return value


def table(results: list[dict]) -> str:
    bySide = {r["side"]: r for r in results}
    lines = [f"| N = {results[0]['n']} idlers of one mailbox | Dovecot directly | "
             f"through idlemail |", "|---|---|---|"]
    for label, path in FIGURES:
        values = [inMegabytes(bySide.get(side, {}), path) for side in ("direct", "proxy")]
        if any(v is not None for v in values):
            lines.append(f"| {label} | " + " | ".join(fmt(v, 1) for v in values) + " |")
    for side in ("direct", "proxy"):
        if "error" in bySide.get(side, {}):
            lines.append(f"| error ({side}) | {bySide[side]['error']} | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.remote", description=__doc__.split("\n")[1])
    p.add_argument("-n", type=int, default=1000, help="idlers")
    p.add_argument("-k", type=int, default=10, help="Maildir drops")
    p.add_argument("--sides", default="direct,proxy")
    p.add_argument("--deadline", type=float, default=30.0,
                   help="seconds an idler may take before a drop counts as missed for it")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between drops")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds after connecting before memory and connections are read")
    p.add_argument("--concurrency", type=int, default=50, help="logins at once")
    p.add_argument("--timeout", type=float, default=1800.0, help="per side")
    args = p.parse_args(argv)
    if not shutil.which("dovecot", path="/usr/sbin:/usr/bin:/sbin"):
        print("bench: dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return 2
    instances = raiseInotifyInstances(args.n + 256)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-bench-remote-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        for side in sides:
            print(f"bench: {side} N={args.n} ...", file=sys.stderr, flush=True)
            results.append(runSide(side, args.n, args, Path(scratch)))
    notes = [f"fs.inotify.max_user_instances = {instances}", machineNote(),
             "upstream connections: established TCP connections to Dovecot's port "
             "(/proc/net/tcp), read after the idlers settled and again after the drops"]
    publish("remote", table(results), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
