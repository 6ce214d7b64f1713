"""
Counting TCP connections on this host (Linux, from /proc/net/tcp): how many a client holds
to a server, e.g. a proxy's upstream connections, for tests and benchmarks.
"""

from __future__ import annotations

ESTABLISHED = "01"  # the state column of /proc/net/tcp


def establishedTo(port: int) -> int:
    """Established IPv4 TCP connections whose remote end is C{port}."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == ESTABLISHED and int(fields[2].split(":")[1], 16) == port:
                count += 1
    return count
