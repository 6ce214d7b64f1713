"""
Large Maildir folders (issue 12 item 8), idlemail and Dovecot one after the other in one run:
APPEND into a folder of --messages messages against APPEND into an empty one, and STATUS of
the big folder while nobody has it open, with another connection's NOOPs timed meanwhile.

    python -m bench.bigfolder [--servers idlemail,dovecot] [--messages 20000] [-k 50]

Each server starts fresh with the same Maildir: alice's folders "Empty" (no message) and
"Big" (--messages small messages in cur/, numbered in a dovecot-uidlist as Dovecot leaves
one). One connection (INBOX selected, as a client filing what it sent) sends STATUS Big
once, then -k APPENDs into Empty and -k into Big, each timed from its write to its tagged
answer; a second connection sends NOOPs back to back while the STATUS runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import fmt, machineNote, markdownTable, percentiles, publish
from bench.imapload import Connection
from bench.servers import (BENCH_IDLEMAIL_CONFIG, DovecotBenchServer, IdlemailServer,
                           chosenServers, makeMaildir)

HOST = "127.0.0.1"
USERS = {"alice": "alicepw"}
MESSAGE = (b"From: Sender <sender@example.org>\r\nTo: alice@example.org\r\n"
           b"Subject: sent %d\r\n\r\n" + b"A line of an ordinary message body.\r\n" * 40)


def makeFolder(maildir: Path, name: str, count: int) -> None:
    folder = maildir / f".{name}"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "maildirfolder").touch()
    lines = ["3 V1700000000 N%d G0123456789abcdef0123456789abcdef" % (count + 1)]
    for n in range(1, count + 1):
        base = "1600000000.M%dP1.big" % n
        (folder / "cur" / f"{base}:2,S").write_bytes(b"Subject: %d\r\n\r\nold\r\n" % n)
        lines.append(f"{n} :{base}")
    (folder / "dovecot-uidlist").write_text("\n".join(lines) + "\n")


async def timed(conn: Connection, line: bytes) -> float:
    t = time.perf_counter()
    answer, _ = await conn.exchange(line)
    if not answer.startswith(b"OK"):
        raise RuntimeError(f"{line[:40]!r}: {answer[:80]!r}")
    return time.perf_counter() - t


async def run(port: int, k: int) -> dict:
    user, password = next(iter(USERS.items()))
    client, other = await Connection.open(HOST, port), await Connection.open(HOST, port)
    await client.login(user, password)
    await other.login(user, password)
    await client.select("INBOX")
    noops, statusDone = [], asyncio.Event()

    async def noopsMeanwhile():
        while not statusDone.is_set() and len(noops) < 100_000:
            noops.append(await timed(other, b"NOOP"))

    async def status():
        try:
            return await timed(client, b"STATUS Big (MESSAGES UIDNEXT UNSEEN)")
        finally:
            statusDone.set()
    statusTime, _ = await asyncio.gather(status(), noopsMeanwhile())
    appends = {}
    for folder in ("Empty", "Big"):
        appends[folder] = [
            await timed(client, b'APPEND "%s" {%d+}\r\n' % (folder.encode(), len(m)) + m)
            for m in (MESSAGE % n for n in range(k))]
    client.close()
    other.close()
    return {"status_s": statusTime, "noops_meanwhile": len(noops),
            "noop_max_ms": max(noops) * 1000 if noops else None,
            "append_empty": percentiles(appends["Empty"]),
            "append_big": percentiles(appends["Big"])}


def measure(kind: str, scratch: Path, args) -> dict:
    workdir = scratch / kind
    if kind == "idlemail":
        server = IdlemailServer(workdir, USERS, serverConfig=BENCH_IDLEMAIL_CONFIG)
        server.prepare()
    elif kind == "dovecot":
        server = DovecotBenchServer(workdir, USERS)
    else:
        raise SystemExit(f"bench: unknown server {kind!r} (idlemail, dovecot)")
    maildir = makeMaildir(server.mailRoot, "alice")
    makeFolder(maildir, "Empty", 0)
    makeFolder(maildir, "Big", args.messages)
    print(f"bench: {kind} ...", file=sys.stderr, flush=True)
    server.start()
    try:
        return {"server": kind, **asyncio.run(asyncio.wait_for(run(server.port, args.k), 600))}
    finally:
        server.stop()


def table(results: list[dict], count: int) -> str:
    servers = [r["server"] for r in results]
    rows = [(f"STATUS of the unopened {count:,}-message folder (ms)",
             [r["status_s"] * 1000 for r in results]),
            ("another connection's slowest NOOP meanwhile (ms)",
             [r["noop_max_ms"] for r in results]),
            ("NOOPs answered meanwhile", [r["noops_meanwhile"] for r in results])]
    for label, key in (("empty folder", "append_empty"),
                       (f"{count:,}-message folder", "append_big")):
        for q in ("p50", "p99"):
            rows.append((f"APPEND into an {label} {q} (ms)" if label.startswith("e")
                         else f"APPEND into a {label} {q} (ms)", [r[key][q] for r in results]))
    return markdownTable(["figure", *servers],
                         [[label, *[fmt(v) for v in values]] for label, values in rows])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bigfolder",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("--servers", default="idlemail,dovecot")
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("-k", type=int, default=50, help="APPENDs timed into each folder")
    args = p.parse_args(argv)
    servers = chosenServers(args.servers)
    if servers is None:
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="idlemail-bigfolder-") as scratch:
        os.chmod(scratch, 0o755)  # Dovecot's own users must reach its files
        for kind in servers:
            results.append(measure(kind, Path(scratch), args))
    notes = [f"folder Big: {args.messages} messages numbered in a dovecot-uidlist; "
             f"{args.k} APPENDs timed into each folder; the appender has INBOX selected",
             machineNote()]
    publish("bigfolder", table(results, args.messages), notes,
            {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
