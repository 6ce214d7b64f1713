"""
Turning measured times into the figures every bench prints: percentiles in ms, cells,
Markdown tables, and the printed table + notes + JSON under bench/results/.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values: list[float]) -> dict:
    """p50/p90/p99/max in ms of C{values} in seconds (None when there are none)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": statistics.median(ordered) * 1000, "p90": at(0.90), "p99": at(0.99),
            "max": ordered[-1] * 1000}


def latencyRows(label: str, key: str) -> list[tuple[str, tuple[str, str]]]:
    """Table rows (label, path into a result) of one kind of delivery timed to EXISTS:
    its quantiles, then how many idlers missed it."""
    return [(f"{label} → EXISTS {q} (ms)", (key, q)) for q in ("p50", "p90", "p99", "max")] \
        + [(f"{label} missed", (key, "missed"))]


def fmt(value, digits=2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdownTable(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machineNote() -> str:
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return (f"machine: {os.cpu_count()} cores, load average {load} when measured "
            "(shared with other work); client: asyncio, one process")


def publish(name: str, table: str, notes: list[str], data: dict) -> Path:
    """Print the table and its notes; write C{data} and the notes as JSON under
    bench/results/ in a file named for C{name} and the time."""
    print(table)
    for note in notes:
        print(f"\n{note}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime(f"{name}-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps({**data, "notes": notes}, indent=2))
    print(f"\nbench: results written to {out}", file=sys.stderr)
    return out


def noteErrors(result: dict, errors: list) -> None:
    """How many connections failed, and the first failure, into a bench result."""
    result["connect_errors"] = len(errors)
    if errors:
        result["connect_error_sample"] = repr(errors[0])[:200]
