"""
The disk's floor under a durable Maildir APPEND: the syncs alone, with no server.

    python -m bench.fsyncfloor [-k 20] [--pause 0.05] [--dir DIR]

Each step is what idlemail's Maildir backend does to acknowledge one APPEND, as bare
system calls: write a 3 kB message in tmp/ and fsync it, rename it into cur/, append a
line to dovecot-uidlist and fdatasync it, fsync cur/, append a record to idlemail-modseq
and fdatasync it; and, as the server does it, the two appends written first and the
three syncs done after both. Timed K times back to back and K times paced C{--pause} seconds apart
(as bench.idle paces its APPENDs: an idle disk queue may be slower to wake), in a fresh
directory on the file system of C{--dir} (default: the system's temporary directory,
where the benches put their Maildirs). Prints p50/p90/max per variant, in ms: the three
syncs of the message and its UID, all four with the MODSEQ record, and the four grouped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import fmt, machineNote, markdownTable, percentiles
from idlemail.backends.maildir.safe import fsyncDir

MESSAGE = b"Subject: floor\r\n\r\n" + b"A line of an ordinary message body.\r\n" * 80


def _append(path: Path, data: bytes, sync: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def _fdatasync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


#: The variants timed: the three syncs of a message and its UID, each as written; the
#: four with the MODSEQ record, each as written; and the four as idlemail's Maildir
#: backend does them (L{idlemail.backends.maildir.safe.Owed}): the message synced in
#: tmp/, then the rename and both records written, then synced one after the other.
VARIANTS = {"three": "file + uidlist + dir, each synced as written",
            "four": "file + uidlist + dir + modseq, each synced as written",
            "grouped": "file; then uidlist + dir + modseq synced together (idlemail)"}


def oneAppend(folder: Path, n: int, variant: str) -> float:
    """Seconds for one APPEND's syncs (and renames) in C{folder}."""
    t = time.perf_counter()
    name = f"{time.time():.6f}.P{os.getpid()}Q{n}"
    tmp = folder / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, MESSAGE)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, folder / "cur" / (name + ":2,S"))
    uidlist, modseqs = folder / "dovecot-uidlist", folder / "idlemail-modseq"
    line, record = b"%d :%s\n" % (n, name.encode()), b"S %d S %d\n" % (n, n)
    if variant == "grouped":
        _append(uidlist, line, sync=False)
        _append(modseqs, record, sync=False)
        _fdatasync(uidlist)
        fsyncDir(folder / "cur")
        _fdatasync(modseqs)
        return time.perf_counter() - t
    _append(uidlist, line)
    fsyncDir(folder / "cur")
    if variant == "four":
        _append(modseqs, record)
    return time.perf_counter() - t


def measure(k: int, pause: float, where: str | None, variants=tuple(VARIANTS)) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="idlemail-floor-", dir=where) as scratch:
        folder = Path(scratch)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir()
        n = 0
        for variant in variants:
            for gap in (0.0, pause):
                times = []
                for _ in range(k):
                    n += 1
                    times.append(oneAppend(folder, n, variant))
                    if gap:
                        time.sleep(gap)
                out[(variant, gap)] = percentiles(times)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fsyncfloor",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--dir", default=None)
    args = p.parse_args(argv)
    results = measure(args.k, args.pause, args.dir)
    rows = []
    for (variant, gap), q in results.items():
        syncs = VARIANTS[variant]
        pacing = f"paced {gap * 1000:g} ms apart" if gap else "back to back"
        rows.append([f"{syncs}, {pacing}", fmt(q["p50"]), fmt(q["p90"]), fmt(q["max"])])
    print(markdownTable(["syncs of one APPEND", "p50 (ms)", "p90 (ms)", "max (ms)"], rows))
    print(f"\n{machineNote()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
