"""
Issue 12's attacks replayed against idlemail as users run it, with what each costs the server.

    python -m bench.attacks [--only a,b,c,d,e] [--port N] [--keep] [--cap 30] [--seconds 20]

The server is `twistd -n idlemail --config FILE` (this checkout, this interpreter), Maildir
backend, listening on `tcp:PORT:interface=127.0.0.1` with no `backlog=` (what a user's config
says), users made by `idlemail adduser --password-stdin` (ARGON2ID). Mailboxes are Maildir
files written directly, then one SELECT per mailbox gives them UIDs. Each attack gets a fresh
server process (so one attack's memory does not hide the next one's); RSS is the server
process's, from /proc (growth = VmHWM, reset just before the attack, minus RSS then).

a. pre-auth APPEND: 8 connections, never logged in, stream `A APPEND INBOX {52428800+}`
   (at most --append-mb each, --seconds in all). Goal: peak RSS growth < 20 MB.
b. no-read: one connection pipelines 28 MB of CAPABILITY without reading; separately, five
   `FETCH 1:* BODY.PEEK[]` of a 100 MB mailbox without reading. Goal: growth < 20 MB each.
c. stalls: a logged-in client sends one heavy command (LIST with 30 stars around "...", a
   SEARCH of 4,500 `NOT TEXT x`, a UID FETCH with a 64 kB set on 5,000 messages); new clients
   connect one after another meanwhile. Goal: the worst time to greeting < 100 ms.
d. login storm: 200 connections at once as 10 ARGON2ID users, LOGIN + SELECT + IDLE, while
   another user repeats SELECT + FETCH. Goals: all idling < 10 s, peak RSS < 250 MB, the other
   user's worst SELECT + FETCH < 1 s.
e. reconnect storm: 5,000 connections at once, each reading its greeting. Goal: all greeted
   within 10 s, none stuck (no greeting within --cap).

Every wait is capped (--cap); a capped figure reads "> 30 s". Prints one Markdown table and
writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from bench import attackcases as cases
from bench.attackcases import Figure, openUser
from bench.figures import machineNote, markdownTable, publish
from bench.servers import BENCH_IDLEMAIL_CONFIG, IdlemailServer, freePort, makeMaildir, preload

STORM_USERS = {f"storm{i}": f"storm{i}-pw" for i in range(10)}
USERS = {"attacker": "attacker-pw", "bulk": "bulk-pw", "big": "big-pw", "alice": "alice-pw",
         **STORM_USERS}
BIG_MESSAGES = 5000


def writeBulk(maildir: Path, megabytes: int) -> None:
    """C{megabytes} messages of 1 MiB each in cur/."""
    line = b"VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZyAwMTIzNDU2Nzg5Cg==\r\n"
    body = line * (1024 * 1024 // len(line))
    now = int(time.time()) - 3600
    for i in range(megabytes):
        head = b"From: bulk@example.org\r\nSubject: bulk %d\r\n\r\n" % i
        (maildir / "cur" / f"{now}.M{i}P1.bulk:2,S").write_bytes(head + body)


def writeMany(maildir: Path, count: int) -> None:
    """C{count} small messages in cur/ without the letter x, so that every C{NOT TEXT x}
    key of the SEARCH attack holds and must be evaluated."""
    now = int(time.time()) - 3600
    for i in range(count):
        text = (b"From: list%d@big.test\r\nTo: big@big.test\r\nSubject: note %d\r\n"
                b"Message-ID: <many-%d@big.test>\r\n\r\nThe weekly notes, number %d.\r\n"
                % (i % 50, i, i, i)) + b"Lorem ipsum dolor sit amet.\r\n" * 16
        (maildir / "cur" / f"{now}.M{i}P1.many:2,S").write_bytes(text)


def prepareMailboxes(server: IdlemailServer, only: set[str], opts) -> list[str]:
    """Fill the mailboxes the chosen attacks need, then give them UIDs with one SELECT."""
    notes = []
    if "b" in only:
        writeBulk(makeMaildir(server.mailRoot, "bulk"), opts.fetch_mb)
        notes.append(f"bulk's INBOX: {opts.fetch_mb} messages of 1 MiB")
    if "c" in only:
        writeMany(makeMaildir(server.mailRoot, "big"), BIG_MESSAGES)
        notes.append(f"big's INBOX: {BIG_MESSAGES} messages of ~1 kB")
    if "d" in only:
        preload(makeMaildir(server.mailRoot, "alice"), 10)
    notes.append("mailboxes: Maildir files written directly into cur/, then one SELECT "
                 "by an ordinary client assigned the UIDs")

    async def select():
        for user in ("bulk", "big", "alice"):
            conn = await openUser(server.port, user, USERS[user], 300)
            conn.close()
        conn = await openUser(server.port, "attacker", USERS["attacker"], 60, mailbox=None)
        await conn.exchange(b'CREATE "%s"' % cases.LONG_MAILBOX.encode(), 60)
        conn.close()

    server.start()
    try:
        asyncio.run(select())
    finally:
        server.stop(timeout=10)
    return notes


def caseList() -> list[tuple[str, str, object]]:
    stall = cases.stallDuringCommand
    return [
        ("a", "a. pre-auth APPEND", cases.preauthAppend),
        ("b", "b. no-read CAPABILITY", cases.pipelinedCapability),
        ("b", "b. no-read FETCH", partial(cases.unreadFetch, user="bulk",
                                          password=USERS["bulk"])),
        ("c", "c. LIST stall", partial(stall, attack="c. LIST stall", user="attacker",
                                       password=USERS["attacker"], mailbox=None,
                                       line=cases.listAttack())),
        ("c", "c. SEARCH stall", partial(stall, attack="c. SEARCH stall", user="big",
                                         password=USERS["big"], mailbox="INBOX",
                                         line=cases.searchAttack())),
        ("c", "c. sequence-set stall", partial(
            stall, attack="c. sequence-set stall", user="big", password=USERS["big"],
            mailbox="INBOX", line=cases.sequenceSetAttack(BIG_MESSAGES))),
        ("d", "d. login storm", partial(cases.loginStorm, stormUsers=STORM_USERS,
                                        other=("alice", USERS["alice"]))),
        ("e", "e. reconnect storm", cases.reconnectStorm),
    ]


def runCase(server: IdlemailServer, label: str, attack, opts) -> list[Figure]:
    """One attack on a fresh server process, bounded as a whole; the server is killed after
    (a stalled reactor never runs its SIGTERM handler)."""
    print(f"bench: {label} ...", file=sys.stderr, flush=True)
    server.start()
    bound = 4 * opts.cap + 2 * opts.seconds + 60
    try:
        figures = asyncio.run(asyncio.wait_for(attack(server, opts), bound))
    except Exception as e:  # one broken attack must not hide the others' figures
        figures = [Figure(label, "error", f"{type(e).__name__}: {e}"[:120])]
    finally:
        exited = server.proc.poll()
        server.stop(timeout=5)
    if exited is not None:
        figures.append(Figure(label, "server process", f"exited with {exited} during the "
                              "attack"))
    return figures


def raiseOpenFiles(wanted: int) -> str:
    """The bench holds every client socket, and the server (our child) inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return f"open-files limit {soft} (enough; not changed)"
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return f"open-files soft limit raised {soft} -> {new} (setrlimit; the server inherits it)"


def readProc(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "?"


def table(figures: list[Figure]) -> str:
    met = {True: "yes", False: "**no**", None: ""}
    return markdownTable(["attack", "figure", "value", "goal", "met?"],
                         [[f.attack, f.figure, f.shown, f.goal, met[f.met]] for f in figures])


def parseArgs(argv):
    p = argparse.ArgumentParser(prog="python -m bench.attacks",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("--only", default="a,b,c,d,e", help="attacks to run, e.g. a,c")
    p.add_argument("--port", type=int, help="the server's port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="leave the data dir for inspection")
    p.add_argument("--cap", type=float, default=30.0, help="the longest any wait may last (s)")
    p.add_argument("--seconds", type=float, default=20.0,
                   help="how long a streaming attack (a, b) may go on")
    p.add_argument("--append-mb", type=int, default=50, help="MB each APPEND connection sends")
    p.add_argument("--append-connections", type=int, default=8)
    p.add_argument("--capability-mb", type=int, default=28)
    p.add_argument("--fetch-mb", type=int, default=100, help="size of the FETCH mailbox")
    p.add_argument("--storm", type=int, default=200, help="connections in the login storm")
    p.add_argument("--clients", type=int, default=5000, help="clients in the reconnect storm")
    p.add_argument("--server-config", action="append", default=[],
                   help="a TOML line for [server], e.g. a limit the storms must fit in")
    opts = p.parse_args(argv)
    opts.only = {x.strip() for x in opts.only.split(",") if x.strip()}
    unknown = opts.only - set("abcde")
    if unknown:
        p.error(f"unknown attack(s) {', '.join(sorted(unknown))} (choose from a,b,c,d,e)")
    return opts


def main(argv=None) -> int:
    opts = parseArgs(argv)
    notes = [machineNote()]
    if "e" in opts.only:
        notes.append(raiseOpenFiles(opts.clients + 1024))
        notes.append(f"net.core.somaxconn {readProc('/proc/sys/net/core/somaxconn')}, "
                     f"tcp_syncookies {readProc('/proc/sys/net/ipv4/tcp_syncookies')}")
    scratch = Path(tempfile.mkdtemp(prefix="idlemail-attacks-"))
    server = IdlemailServer(scratch, USERS, listen="tcp:{port}:interface=127.0.0.1",
                            port=opts.port or freePort(), adduser=True,
                            serverConfig=[*BENCH_IDLEMAIL_CONFIG, *opts.server_config])
    notes.append(f"endpoint: tcp:{server.port}:interface=127.0.0.1 (no backlog=)")
    figures: list[Figure] = []
    try:
        print(f"bench: making {len(USERS)} users with idlemail adduser (ARGON2ID) ...",
              file=sys.stderr, flush=True)
        server.prepare()
        notes += prepareMailboxes(server, opts.only, opts)
        for letter, label, attack in caseList():
            if letter in opts.only:
                figures += runCase(server, label, attack, opts)
    finally:
        server.stop(timeout=5)
        if opts.keep:
            print(f"bench: data dir kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    publish("attacks", table(figures), notes,
            {"args": {**vars(opts), "only": sorted(opts.only)},
             "figures": [asdict(f) for f in figures]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
