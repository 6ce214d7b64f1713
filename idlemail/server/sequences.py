"""
Message sets (RFC 3501 9, sequence-set) against a session's view: the ranges sorted and
merged first (O(m log m) for m ranges), then looked up by bisection, so a 64 kB set that
names the same messages over and over costs what its distinct ranges cost.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from idlemail.errors import BadRequest


def mergedRanges(seqset, largest: int) -> list[tuple[int, int]]:
    """The set's ranges with C{*} as C{largest}: ascending, disjoint, not adjacent."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(seqset.resolve(largest)):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


class NumberSet:
    """Membership in merged ranges, by bisection (SEARCH's sequence-set and UID keys)."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, ranges: list[tuple[int, int]]):
        self._starts = [lo for lo, _ in ranges]
        self._ends = [hi for _, hi in ranges]

    def __contains__(self, number: int) -> bool:
        i = bisect_right(self._starts, number) - 1
        return i >= 0 and number <= self._ends[i]


def resolveUids(session, seqset, uid: bool) -> list[int]:
    """
    The UIDs, ascending, that C{seqset} names in the session's view. A message
    number past the end is an error (RFC 3501 6.4.8: UID sets may name UIDs that
    don't exist, sequence sets may not).
    """
    inView = session.view.uidsInView()
    out: list[int] = []
    if seqset.saved:  # "$" (RFC 5182): the saved messages still in view, whatever the form
        saved = set(session.savedSearch)
        return [u for u in inView if u in saved]
    if uid:
        for lo, hi in mergedRanges(seqset, inView[-1] if inView else 0):
            out.extend(inView[bisect_left(inView, lo):bisect_right(inView, hi)])
        return out
    ranges = mergedRanges(seqset, len(inView))
    if ranges and (ranges[0][0] < 1 or ranges[-1][1] > len(inView)):
        raise BadRequest("Invalid message sequence number")
    for lo, hi in ranges:
        out.extend(inView[lo - 1:hi])
    return out


def compactSet(numbers) -> str:
    """C{[1, 2, 3, 7]} -> C{"1:3,7"} (RFC 4315 uid-set); in the order given, joining only
    runs that ascend by one."""
    out = []
    numbers = list(numbers)
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(out)
