"""
The disk's floor under a durable Maildir APPEND: the syncs alone, with no server.

    python -m bench.fsyncfloor [-k 20] [--pause 0.05] [--dir DIR]

Each step is what idlemail's Maildir backend does to acknowledge one APPEND, as bare
system calls: write a 3 kB message in tmp/ and fsync it, rename it into cur/, append a
line to dovecot-uidlist and fdatasync it, fsync cur/, append a record to idlemail-modseq
and fdatasync it. Timed K times back to back and K times paced C{--pause} seconds apart
(as bench.idle paces its APPENDs: an idle disk queue may be slower to wake), in a fresh
directory on the file system of C{--dir} (default: the system's temporary directory,
where the benches put their Maildirs). Prints p50/p90/max per variant, in ms: the three
syncs of the message and its UID, and all four with the MODSEQ record.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import fmt, machineNote, markdownTable, percentiles

MESSAGE = b"Subject: floor\r\n\r\n" + b"A line of an ordinary message body.\r\n" * 80


def _appendSynced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _fsyncDir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def oneAppend(folder: Path, n: int, modseq: bool) -> float:
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
    _appendSynced(folder / "dovecot-uidlist", b"%d :%s\n" % (n, name.encode()))
    _fsyncDir(folder / "cur")
    if modseq:
        _appendSynced(folder / "idlemail-modseq", b"S %d S %d\n" % (n, n))
    return time.perf_counter() - t


def measure(k: int, pause: float, where: str | None) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="idlemail-floor-", dir=where) as scratch:
        folder = Path(scratch)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir()
        n = 0
        for modseq in (False, True):
            for gap in (0.0, pause):
                times = []
                for _ in range(k):
                    n += 1
                    times.append(oneAppend(folder, n, modseq))
                    if gap:
                        time.sleep(gap)
                out[(modseq, gap)] = percentiles(times)
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
    for (modseq, gap), q in results.items():
        syncs = "file + uidlist + dir + modseq" if modseq else "file + uidlist + dir"
        pacing = f"paced {gap * 1000:g} ms apart" if gap else "back to back"
        rows.append([f"{syncs}, {pacing}", fmt(q["p50"]), fmt(q["p90"]), fmt(q["max"])])
    print(markdownTable(["syncs of one APPEND", "p50 (ms)", "p90 (ms)", "max (ms)"], rows))
    print(f"\n{machineNote()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
