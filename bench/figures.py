"""
Turning measured times into the figures every bench prints: percentiles in ms, cells, and
Markdown tables.
"""

from __future__ import annotations

import statistics


def percentiles(values: list[float]) -> dict:
    """p50/p90/p99/max in ms of C{values} in seconds (None when there are none)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": statistics.median(ordered) * 1000, "p90": at(0.90), "p99": at(0.99),
            "max": ordered[-1] * 1000}


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
