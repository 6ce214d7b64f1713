"""
Push across processes over Redis, side by side with the same push inside one process.

    python -m bench.crossprocess -n 1,1000 -k 20

For each N: a redis-server and two idlemail processes A and B on one Maildir root, as two
hosts on shared storage (C{watch = "none"}: only the bus tells one of the other's
changes; C{[server.bus] kind = "redis"}). First N idlers on B and K APPENDs through A,
each timed from the APPEND to every idler's `* n EXISTS` (across processes); then N idlers
on A and K more APPENDs through A (inside one process, the same servers). Also counted:
Redis's PUBLISHes per APPEND and subscribers per mailbox channel, its memory and clients,
and each server's RSS. Prints one Markdown table and writes JSON under bench/results/.

The Maildir is on tmpfs (C{/dev/shm}) unless C{--dir} says otherwise: there an APPEND's
fsyncs cost nothing, so what is timed is the push, not the disk (on this machine's disk
the fsyncs of one APPEND take some 5 ms, the same on both sides).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench import procstat
from bench.figures import fmt, latencyRows, machineNote, percentiles, publish
from bench.idle import lookup
from bench.imapload import Board, Connection, deliverAll, openIdlers
from bench.servers import BENCH_IDLEMAIL_CONFIG, IdlemailServer
from bench.workers import openFilesFor
from idlemail.bus.redis import channelName
from idlemail.testing.redis import RedisServer

USERS = {"alice": "alicepw"}
CHANNEL = channelName("alice", "INBOX")


def redisCommand(redis: RedisServer, *words: str):
    """One command to Redis and its reply (a bulk string, an integer or an array of
    them), over a socket of its own: the bench's look at the server, not the bus."""
    with socket.create_connection((redis.host, redis.port), timeout=5) as s:
        parts = [b"*%d\r\n" % len(words)]
        for word in words:
            data = word.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        s.sendall(b"".join(parts))
        reader = s.makefile("rb")
        return _reply(reader)


def _reply(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode()
    if kind == b":":
        return int(rest)
    if kind == b"*":
        return [_reply(reader) for _ in range(int(rest))]
    return rest.decode()


def redisInfo(redis: RedisServer, section: str) -> dict[str, str]:
    text = redisCommand(redis, "INFO", section)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def publishCount(redis: RedisServer) -> int:
    stats = redisInfo(redis, "commandstats").get("cmdstat_publish", "calls=0")
    return int(stats.split(",")[0].split("=")[1])


class Appender(Connection):
    async def append(self, message: bytes, mailbox: str = "INBOX") -> None:
        answer, _ = await self.exchange(
            b'APPEND "%s" {%d+}\r\n' % (mailbox.encode(), len(message)) + message)
        if not answer.startswith(b"OK"):
            raise RuntimeError(f"APPEND refused: {answer!r}")


async def pushes(idlersOn, appendTo, redis, n: int, k: int, deadline: float) -> dict:
    """N idlers on C{idlersOn}, K APPENDs through C{appendTo}."""
    board = Board()
    t = time.perf_counter()
    idlers, errors = await openIdlers("127.0.0.1", idlersOn.port, "alice", USERS["alice"], n,
                                      board, concurrency=200)
    result: dict = {"connect_s": round(time.perf_counter() - t, 2),
                    "connect_errors": len(errors)}
    await asyncio.sleep(1.0)
    result["subscribers"] = redisCommand(redis, "PUBSUB", "NUMSUB", CHANNEL)[1]
    appender = await Appender.open("127.0.0.1", appendTo.port)
    await appender.login("alice", USERS["alice"])
    before = publishCount(redis)
    lat, missed = await deliverAll("append", idlers, board, k, appender=appender,
                                   deadline=deadline)
    result["publishes_per_append"] = (publishCount(redis) - before) / k
    result["append"] = {**percentiles(lat), "missed": missed}
    memory = redisInfo(redis, "memory")
    result["redis_used_memory_kb"] = int(memory["used_memory"]) // 1024
    result["redis_clients"] = int(redisInfo(redis, "clients")["connected_clients"])
    result["rss_idlers_server_kb"] = procstat.memory(idlersOn.pid).rss_kb
    appender.close()
    for idler in idlers:
        idler.close()
    await asyncio.sleep(0.5)
    return result


async def measure(a, b, redis, n: int, k: int, deadline: float) -> dict:
    return {"n": n, "k": k,
            "across": await pushes(b, a, redis, n, k, deadline),
            "inside": await pushes(a, a, redis, n, k, deadline)}


def runOne(n: int, args, scratch: Path) -> dict:
    (scratch / f"redis-{n}").mkdir()
    with RedisServer(scratch / f"redis-{n}") as redis:
        bus = ("[server.bus]", 'kind = "redis"', f'endpoint = "{redis.endpoint}"')
        servers = [IdlemailServer(scratch / f"{name}-{n}", USERS, mailRoot=scratch / f"mail-{n}",
                                  serverConfig=(*BENCH_IDLEMAIL_CONFIG, *bus),
                                  backendConfig=('watch = "none"',))
                   for name in "AB"]
        try:
            for server in servers:
                server.start()
            time.sleep(1.0)  # each bus connected (the greeting comes first)
            return asyncio.run(asyncio.wait_for(measure(*servers, redis, n, args.k,
                                                        args.deadline), args.timeout))
        except asyncio.TimeoutError:
            return {"n": n, "error": f"timed out after {args.timeout} s"}
        finally:
            for server in servers:
                server.stop()


FIGURES = [
    *latencyRows("APPEND", "append"),
    ("connect N idlers (s)", ("connect_s",)),
    ("Redis PUBLISHes per APPEND", ("publishes_per_append",)),
    ("subscribers of the mailbox's channel", ("subscribers",)),
    ("Redis clients", ("redis_clients",)),
    ("Redis used memory (kB)", ("redis_used_memory_kb",)),
    ("RSS of the idlers' server (kB)", ("rss_idlers_server_kb",)),
]
SIDES = (("across", "A → Redis → B (across processes)"),
         ("inside", "A → A (inside one process)"))


def table(results: list[dict], ns: list[int]) -> str:
    lines = ["| N | figure | " + " | ".join(text for _, text in SIDES) + " |",
             "|---|---|---|---|"]
    for n in ns:
        result = next((r for r in results if r["n"] == n), {})
        if "error" in result:
            lines.append(f"| {n} | error | {result['error']} | |")
            continue
        for label, path in FIGURES:
            cells = [fmt(lookup(result, (side, *path))) for side, _ in SIDES]
            lines.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.crossprocess",
                                description=__doc__.split("\n")[1])
    p.add_argument("-n", default="1,1000", help="idler counts, comma separated")
    p.add_argument("-k", type=int, default=20, help="APPENDs per side")
    p.add_argument("--deadline", type=float, default=20.0,
                   help="seconds an idler may take before a delivery counts as missed")
    p.add_argument("--timeout", type=float, default=900.0, help="per N")
    p.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                   help="where the Maildir root goes (default: /dev/shm, tmpfs)")
    args = p.parse_args(argv)
    if not RedisServer.available():
        print("bench: redis-server is not installed (apt-get install redis-server)",
              file=sys.stderr)
        return 2
    ns = [int(x) for x in args.n.split(",")]
    if openFilesFor(max(ns)) is None:
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-bench-", dir=args.dir) as scratch:
        for n in ns:
            print(f"bench: N={n} ...", file=sys.stderr, flush=True)
            results.append(runOne(n, args, Path(scratch)))
    notes = ["two idlemail processes on one Maildir root, watch = \"none\", [server.bus] "
             "kind = \"redis\" (one redis-server on loopback); passwords {PLAIN}; "
             f"Maildir under {args.dir or tempfile.gettempdir()}",
             machineNote()]
    publish("crossprocess", table(results, ns), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
