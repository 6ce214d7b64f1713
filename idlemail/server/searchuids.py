"""
SEARCH criteria made independent of the session, for a backend that searches itself
(L{idlemail.interfaces.ISearchMailbox}): message numbers, C{*} and \\Recent are this
session's view, so they become explicit UID sets before the criteria leave the server.
"""

from __future__ import annotations

from idlemail.wire.command import SearchKey, SequenceSet

_SEEN = "\\Seen"


def _runs(uids) -> SequenceSet:
    """Ascending UIDs as ranges: C{[1, 2, 3, 7]} -> C{((1, 3), (7, 7))}."""
    ranges: list[tuple[int, int]] = []
    for uid in uids:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return SequenceSet(tuple(ranges))


def resolveSaved(key: SearchKey, saved) -> SearchKey:
    """C{key} with C{$} (RFC 5182) as the UID set it stands for: C{saved} (UIDs, ascending)."""
    op, args = key.op, key.args
    if op in ("AND", "OR", "NOT"):
        return SearchKey(op, tuple(resolveSaved(k, saved) for k in args))
    if op in ("SEQ", "UID") and args[0].saved:
        return SearchKey("UID", (_runs(saved or ()),))
    return key


def resolveSearch(key: SearchKey, view, inView: list[int]) -> SearchKey:
    """C{key} with SEQ, C{*}, RECENT, NEW and OLD turned into UID keys of C{inView}."""
    op, args = key.op, key.args
    if op in ("AND", "OR", "NOT"):
        return SearchKey(op, tuple(resolveSearch(k, view, inView) for k in args))
    if op == "SEQ":
        picked: set[int] = set()
        for lo, hi in args[0].resolve(len(inView)):
            picked.update(inView[max(lo, 1) - 1:min(hi, len(inView))])
        return SearchKey("UID", (_runs(sorted(picked)),))
    if op == "UID":
        largest = inView[-1] if inView else 0
        return SearchKey("UID", (SequenceSet(tuple(args[0].resolve(largest))),))
    recent = SearchKey("UID", (_runs([u for u in inView if u in view.recent]),))
    if op == "RECENT":
        return recent
    if op == "NEW":
        return SearchKey("AND", (recent, SearchKey("FLAG", (_SEEN, False))))
    if op == "OLD":
        return SearchKey("NOT", (recent,))
    return key
