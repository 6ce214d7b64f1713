"""
idlemail and Dovecot under the same mixed load of ordinary mail commands, one after the other
in one run.

    python -m bench.mixed [--servers idlemail,dovecot] [--clients 10] [--seconds 20]
                          [--backend maildir|memory] [--users 1] [--messages 200]

Each server starts fresh with the same users (passwd-file scheme {PLAIN} for both) and the same
starting Maildir contents (--messages 3 kB messages in each user's INBOX, written as files; for
idlemail's memory backend, APPENDed before the run). Then --clients asyncio clients (spread over
--users users; by default all on one INBOX) loop LOGIN, LIST, STATUS, SELECT, FETCH flags +
envelope, FETCH a body, STORE \\Seen, STORE \\Deleted, EXPUNGE, APPEND, LOGOUT for --seconds
(see bench/mixedload.py). Then, on the quiet server, APPEND -> EXISTS for one idler: another
connection APPENDs 20 times, the idler times each `* n EXISTS`.

Figures: commands/s = every answered command of every kind / the run's wall time; p50 and p99
per command kind, from the command's write to its tagged answer; "answered NO" counts races
between clients (a message expunged by another); errors are BAD answers, timeouts, drops.
The last column is how far idlemail is ahead (> 1: idlemail better): idlemail / Dovecot for
commands/s, Dovecot / idlemail for times. Prints one Markdown table; writes JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import fmt, machineNote, markdownTable, percentiles, publish
from bench.imapload import Board, Connection, deliverAll, openIdlers
from bench.mixedload import KINDS, message, runLoad
from bench.servers import (BENCH_IDLEMAIL_CONFIG, DovecotBenchServer, IdlemailServer,
                           chosenServers, makeMaildir)

HOST = "127.0.0.1"


def fillInbox(maildir: Path, count: int) -> None:
    now = int(time.time()) - 86400
    for i in range(count):
        (maildir / "cur" / f"{now}.M{i}P1.mixed:2,S").write_bytes(message(i))


async def appendAll(port: int, user: str, password: str, count: int) -> None:
    conn = await Connection.open(HOST, port)
    await conn.login(user, password)
    for i in range(count):
        await conn.append(message(i))
    conn.close()


async def appendToIdler(port: int, user: str, password: str, k: int) -> list[float]:
    """APPEND -> EXISTS for one idler of C{user}'s INBOX, C{k} times."""
    board = Board()
    idlers, errors = await openIdlers(HOST, port, user, password, 1, board)
    if errors:
        raise errors[0]
    appender = await Connection.open(HOST, port)
    await appender.login(user, password)
    latencies, missed = await deliverAll("append", idlers, board, k, appender=appender)
    appender.close()
    idlers[0].close()
    if missed:
        raise RuntimeError(f"the idler missed {missed} of {k} APPENDs")
    return latencies


def makeServer(kind: str, workdir: Path, users: dict, args):
    if kind == "idlemail":
        server = IdlemailServer(workdir, users, backend=args.backend,
                                serverConfig=BENCH_IDLEMAIL_CONFIG)
    elif kind == "dovecot":
        server = DovecotBenchServer(workdir, users)
    else:
        raise SystemExit(f"bench: unknown server {kind!r} (idlemail, dovecot)")
    if kind == "dovecot" or args.backend == "maildir":
        for user in users:
            fillInbox(makeMaildir(server.mailRoot, user), args.messages)
    return server


def measure(kind: str, scratch: Path, users: dict, args) -> dict:
    server = makeServer(kind, scratch / kind, users, args)
    print(f"bench: {kind} ...", file=sys.stderr, flush=True)
    server.start()
    try:
        if kind == "idlemail" and args.backend == "memory":
            for user, password in users.items():
                asyncio.run(appendAll(server.port, user, password, args.messages))
        tally, elapsed = asyncio.run(runLoad(server.port, users, args.clients, args.seconds))
        user, password = next(iter(users.items()))
        idle = asyncio.run(asyncio.wait_for(
            appendToIdler(server.port, user, password, args.idler_k), 120))
    finally:
        server.stop()
    return {
        "server": kind, "seconds": elapsed, "commands": tally.commands,
        "commands_per_s": tally.commands / elapsed, "sessions": tally.sessions,
        "kinds": {k: {**percentiles(tally.times[k]), "n": len(tally.times[k]),
                      "no": tally.refused[k]} for k in KINDS},
        "answered_no": sum(tally.refused.values()), "errors": len(tally.errors),
        "error_sample": tally.errors[:5], "append_to_exists": percentiles(idle),
    }


def advantage(label: str, values: list) -> str:
    if len(values) != 2 or None in values or not all(values):
        return ""
    idlemail, dovecot = values
    return f"{idlemail / dovecot:.2f}×" if label == "commands/s" else f"{dovecot / idlemail:.2f}×"


def table(results: list[dict]) -> str:
    servers = [r["server"] for r in results]
    rows = [("commands/s", [r["commands_per_s"] for r in results])]
    for kind in KINDS:
        for q in ("p50", "p99"):
            rows.append((f"{kind} {q} (ms)", [r["kinds"][kind][q] for r in results]))
    rows += [("APPEND → EXISTS, 1 idler, p50 (ms)",
              [r["append_to_exists"]["p50"] for r in results]),
             ("commands answered", [r["commands"] for r in results]),
             ("answered NO (races)", [r["answered_no"] for r in results]),
             ("errors", [r["errors"] for r in results])]
    head = ["figure", *servers]
    if servers == ["idlemail", "dovecot"]:
        head.append("idlemail ahead by (×, < 1: behind)")
    body = []
    for label, values in rows:
        row = [label, *[fmt(v, 1 if label == "commands/s" else 2) for v in values]]
        if len(head) > len(servers) + 1:
            countable = label == "commands/s" or "(ms)" in label
            row.append(advantage(label, values) if countable else "")
        body.append(row)
    return markdownTable(head, body)


def dovecotSchemes() -> str:
    try:
        out = subprocess.run(["doveadm", "pw", "-l"], capture_output=True, text=True,
                             timeout=10).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return ", ".join(s for s in ("ARGON2ID", "BLF-CRYPT", "PLAIN") if s in out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mixed",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("--servers", default="idlemail,dovecot")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--backend", default="maildir", choices=("maildir", "memory"),
                   help="idlemail's backend (Dovecot always uses Maildir)")
    p.add_argument("--users", type=int, default=1, help="users the clients are spread over")
    p.add_argument("--messages", type=int, default=200, help="messages in each INBOX at start")
    p.add_argument("--idler-k", type=int, default=20, help="APPENDs timed for the idler")
    args = p.parse_args(argv)
    servers = chosenServers(args.servers)
    if servers is None:
        return 2
    users = {f"user{i}": f"user{i}-pw" for i in range(args.users)}
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-mixed-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        for kind in servers:
            results.append(measure(kind, Path(scratch), users, args))
    notes = [
        f"{args.clients} clients on {args.users} user(s), {args.seconds:g} s per server, "
        f"{args.messages} messages per INBOX at start; idlemail backend: {args.backend}",
        "passwd-file scheme: {PLAIN} for both servers (Dovecot here also reads "
        f"{dovecotSchemes()}; every loop logs in, so a slow hash would measure hashing)",
        machineNote(),
    ]
    for r in results:
        if r["errors"]:
            notes.append(f"{r['server']} errors, e.g.: {'; '.join(r['error_sample'][:3])}")
    publish("mixed", table(results), notes, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
