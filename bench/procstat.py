"""
Memory and CPU of a server's whole process tree, read from /proc (Linux only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from idlemail.testing.dovecot import processTree

_TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """C{pid} and all its descendants that are alive now."""
    return processTree(pid)


@dataclass
class Memory:
    rss_kb: int
    pss_kb: int
    processes: int


def memory(pid: int) -> Memory:
    rss = pss = n = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return Memory(rss, pss, n)


def cpuSeconds(pid: int) -> float:
    """User + system CPU time used so far by the tree's live processes."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / _TICK


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/{pid}/status")


def rssKb(pid: int) -> int:
    """The resident set of one process now (kB)."""
    return _status(pid, "VmRSS")


def resetPeak(pid: int) -> None:
    """Start the process's peak RSS (VmHWM) afresh from its RSS now (Linux >= 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peakKb(pid: int) -> int:
    """The highest resident set of one process since it started or since L{resetPeak}."""
    return _status(pid, "VmHWM")


async def idleCpuPercent(pid: int, seconds: float) -> float:
    """The CPU the process tree of C{pid} uses over C{seconds} of waiting, in % of a core."""
    import asyncio
    import time
    c0, w0 = cpuSeconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    c1, w1 = cpuSeconds(pid), time.monotonic()
    # Processes that exit meanwhile take their CPU time with them: never below 0.
    return max(0.0, 100.0 * (c1 - c0) / (w1 - w0))
