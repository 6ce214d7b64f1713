"""
Many users with one or two idlers each, idlemail and Dovecot side by side in one run: the
shape of a server for a household, a club or a small company, where the per-mailbox costs
(an open folder, its watch, a login's password hash) count, not only the fan-out.

    python -m bench.users --servers idlemail,dovecot --users 300 -k 20

Every user's password is made by L{idlemail.passwd.hashPassword} with its default scheme
(ARGON2ID, what `idlemail adduser` writes; hashed once, the same passwd fields given to
both servers), so the logins cost what they cost users. idlemail runs with its default
config and endpoint (`tcp:PORT:interface=127.0.0.1`, its own default backlog and limits);
Dovecot with Debian's defaults. By default half the users (the odd ones) have one idler, the
others two (`--idlers-per-user 1` for one each). First a storm of as many connections as
there are idlers is timed to its greetings (the default endpoint's backlog), then the
idlers connect, log in and idle. Then K deliveries by APPEND (each from a third connection of a user picked at random,
logged in before its clock starts) and K Maildir drops, each timed to the EXISTS of that
user's idlers; memory per idler; idle CPU. Prints one Markdown table; JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench import procstat
from bench.figures import fmt, latencyRows, machineNote, noteErrors, percentiles, publish
from bench.idle import lookup, raiseInotifyInstances, ratio
from bench.imapload import MESSAGE, Board, Connection, Idler, MaildirDrop, settle
from bench.servers import DovecotBenchServer, IdlemailServer
from idlemail.passwd import hashPassword


def makeUsers(count: int) -> tuple[dict[str, str], dict[str, str]]:
    """C{count} users' passwords, and their passwd fields (hashed two at a time)."""
    users = {f"user{i:05d}": f"pw-{i}-{random.randrange(1 << 30):x}" for i in range(count)}
    with ProcessPoolExecutor(2) as pool:
        fields = dict(zip(users, pool.map(hashPassword, users.values())))
    return users, fields


def idlersOf(user: str, shape: str = "1,2") -> int:
    """Idlers of C{user}: C{shape} "1" or "2" for every user, "1,2" for one on odd users
    and two on even ones."""
    if shape in ("1", "2"):
        return int(shape)
    return 1 if int(user[4:]) % 2 else 2


async def openAll(host: str, port: int, users: dict, board: Board, shape: str,
                  concurrency: int) -> dict:
    """
    Every user's idlers. First a storm of as many connections as there will be idlers,
    all at once (at most 500 connecting at a time), each timed until greeted and then
    closed (held, they would meet the pre-login timeout while the logins below wait for
    their hashes); then the idlers, each connected, logged in and idling, at most
    C{concurrency} at once. The two phases' durations, the idlers by user, the errors.
    """
    owners = [u for u in users for _ in range(idlersOf(u, shape))]

    async def gated(gate, work):
        async with gate:
            return await work

    t = time.perf_counter()
    gate = asyncio.Semaphore(500)
    storm = await asyncio.gather(*(gated(gate, Connection.open(host, port)) for _ in owners),
                                 return_exceptions=True)
    greeted = time.perf_counter() - t
    errors: list[BaseException] = [c for c in storm if isinstance(c, BaseException)]
    for conn in storm:
        if not isinstance(conn, BaseException):
            conn.close()
    await asyncio.sleep(1.0)
    byUser: dict[str, list[Idler]] = {u: [] for u in users}

    async def idle(user):
        conn = await Connection.open(host, port)
        await conn.login(user, users[user], timeout=600)
        idler = Idler(conn, board)
        await idler.start()
        byUser[user].append(idler)
    gate = asyncio.Semaphore(concurrency)
    t = time.perf_counter()
    errors += [r for r in await asyncio.gather(*(gated(gate, idle(u)) for u in owners),
                                               return_exceptions=True)
               if isinstance(r, BaseException)]
    return {"greeted_s": round(greeted, 2), "idling_s": round(time.perf_counter() - t, 2),
            "byUser": byUser, "errors": errors}


async def deliver(kind: str, server, host: str, port: int, users: dict, byUser: dict,
                  board: Board, k: int, deadline: float, pause: float = 0.05):
    """K deliveries, each to a user picked at random; (latencies in s, missed)."""
    rng = random.Random(k)
    latencies, missed = [], 0
    drops: dict[str, MaildirDrop] = {}  # one per user: its file names never repeat
    for j in range(k):
        user = rng.choice(sorted(u for u in byUser if byUser[u]))
        idlers = byUser[user]
        target = max(i.highest for i in idlers) + 1
        appender = drop = None
        if kind == "append":
            appender = await Connection.open(host, port)
            await appender.login(user, users[user], timeout=120)
        else:
            drop = drops.setdefault(user, MaildirDrop(str(server.maildir(user))))
            tmp, new = drop.prepare()
        board.expect(target, idlers)
        board.t0 = time.perf_counter()
        if appender is not None:
            await appender.append(MESSAGE % (j, j))
        else:
            os.rename(tmp, new)
        told, late = await settle(board, target, deadline)
        latencies.extend(told)
        missed += late
        if appender is not None:
            appender.close()
        await asyncio.sleep(pause)
    return latencies, missed


async def measure(server, users: dict, args) -> dict:
    host, port = "127.0.0.1", server.port
    result: dict = {"server": server.name, "users": len(users)}
    await asyncio.sleep(0.5)
    before = procstat.memory(server.pid)
    board = Board()
    opened = await openAll(host, port, users, board, args.idlers_per_user, args.concurrency)
    byUser, errors = opened["byUser"], opened["errors"]
    result["greeted_s"], result["idling_s"] = opened["greeted_s"], opened["idling_s"]
    idlers = [i for group in byUser.values() for i in group]
    result["idlers"] = len(idlers)
    noteErrors(result, errors)
    await asyncio.sleep(1.0)
    after = procstat.memory(server.pid)
    live = max(len(idlers), 1)
    result["rss_per_idler_kb"] = (after.rss_kb - before.rss_kb) / live
    result["pss_per_idler_kb"] = (after.pss_kb - before.pss_kb) / live
    result["processes"] = after.processes
    for kind in ("append", "drop"):
        lat, missed = await deliver(kind, server, host, port, users, byUser, board, args.k,
                                    args.deadline)
        result[kind] = {**percentiles(lat), "missed": missed, "samples": len(lat)}
    if args.cpu_seconds:
        result["idle_cpu_percent"] = await procstat.idleCpuPercent(server.pid, args.cpu_seconds)
    for idler in idlers:
        idler.close()
    return result


def makeServer(kind: str, workdir: Path, users: dict, fields: dict):
    if kind == "idlemail":
        # Its default config: only the endpoint's port is ours to pick.
        return IdlemailServer(workdir, users, listen="tcp:{port}:interface=127.0.0.1",
                              passwordFields=fields)
    if kind == "dovecot":
        return DovecotBenchServer(workdir, users, extraConfig="", passwordFields=fields)
    raise SystemExit(f"bench: unknown server {kind!r} (idlemail, dovecot)")


def runOne(kind: str, users: dict, fields: dict, args, scratch: Path) -> dict:
    server = makeServer(kind, scratch / kind, users, fields)
    server.start()
    try:
        return asyncio.run(asyncio.wait_for(measure(server, users, args), args.timeout))
    except asyncio.TimeoutError:
        return {"server": kind, "error": f"timed out after {args.timeout} s"}
    finally:
        server.stop()


FIGURES = [
    ("idlers", ("idlers",)),
    ("a storm of N connections: all greeted (s)", ("greeted_s",)),
    ("N idlers connected, logged in and idling (s)", ("idling_s",)),
    ("connect errors", ("connect_errors",)),
    *latencyRows("APPEND", "append"),
    *latencyRows("drop", "drop"),
    ("RSS per idler (kB)", ("rss_per_idler_kb",)),
    ("PSS per idler (kB)", ("pss_per_idler_kb",)),
    ("server processes", ("processes",)),
    ("idle CPU (% of a core)", ("idle_cpu_percent",)),
]
_LOWER_IS_BETTER = ("(s)", "(ms)", "(kB)", "(% of a core)")


def table(results: list[dict], servers: list[str]) -> str:
    byServer = {r["server"]: r for r in results}
    cells = " | ".join(servers)
    lines = [f"| figure | {cells} |" + (" ratio |" if len(servers) == 2 else ""),
             "|---|" + "---|" * len(servers) + ("---|" if len(servers) == 2 else "")]
    for label, path in FIGURES:
        values = [lookup(byServer.get(s, {}), path) for s in servers]
        row = f"| {label} | " + " | ".join(fmt(v) for v in values) + " |"
        if len(servers) == 2:
            row += f" {ratio(values[0], values[1]) if label.endswith(_LOWER_IS_BETTER) else ''} |"
        lines.append(row)
    for s in servers:
        if "error" in byServer.get(s, {}):
            lines.append(f"| error ({s}) | {byServer[s]['error']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.users", description=__doc__.split("\n")[1])
    p.add_argument("--servers", default="idlemail,dovecot")
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--idlers-per-user", default="1,2", choices=("1", "2", "1,2"),
                   help='"1,2": one idler on odd users, two on even ones')
    p.add_argument("-k", type=int, default=20, help="deliveries of each kind")
    p.add_argument("--concurrency", type=int, default=50, help="idlers opening at once")
    p.add_argument("--deadline", type=float, default=20.0,
                   help="seconds an idler may take before a delivery counts as missed")
    p.add_argument("--cpu-seconds", type=float, default=30.0)
    p.add_argument("--timeout", type=float, default=1800.0, help="per server")
    args = p.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    idlers = sum(idlersOf(f"user{i:05d}", args.idlers_per_user) for i in range(args.users))
    instances = raiseInotifyInstances(idlers + 256) if "dovecot" in servers else 0
    print(f"bench: hashing {args.users} passwords (ARGON2ID) ...", file=sys.stderr, flush=True)
    users, fields = makeUsers(args.users)
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-bench-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        for kind in servers:
            print(f"bench: {kind}, {args.users} users, {idlers} idlers ...", file=sys.stderr,
                  flush=True)
            results.append(runOne(kind, users, fields, args, Path(scratch)))
    shape = ("odd ones with one idler and even ones with two" if args.idlers_per_user == "1,2"
             else f"{args.idlers_per_user} idler(s) each")
    notes = [f"{args.users} users, {shape}; passwords "
             "ARGON2ID as `idlemail adduser` makes them, the same fields for both servers; "
             "idlemail with its default config, Dovecot with Debian's"
             + (f"; fs.inotify.max_user_instances = {instances}" if instances else ""),
             machineNote()]
    publish("users", table(results, servers), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
