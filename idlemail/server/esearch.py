"""
The answers of the commands that search: C{* SEARCH}, and C{* ESEARCH} for the result
options of ESEARCH (RFC 4731: MIN, MAX, COUNT, ALL) and ESORT (RFC 5267 3); and the saved
result of SEARCHRES (RFC 5182: C{RETURN (SAVE)}, then C{$} in later commands).
"""

from __future__ import annotations

from idlemail.server.sequences import compactSet


def _numbers(session, cmd, uids) -> list[int]:
    if cmd.uid:
        return list(uids)
    view = session.view
    return [n for n in map(view.seqOf, uids) if n is not None]


def _highest(modseqs: dict[int, int] | None, uids) -> int | None:
    if modseqs is None:
        return None
    return max((modseqs.get(uid, 0) for uid in uids), default=None)


def _returned(uids, options, sorted_: bool) -> list[int]:
    """The messages an ESEARCH returns: the MIN and MAX ones alone when nothing else is
    asked for, else all (RFC 7162 3.1.5: its MODSEQ is the highest of these)."""
    if not uids or {"ALL", "COUNT"} & set(options):
        return list(uids)
    first, last = (uids[0], uids[-1]) if sorted_ else (min(uids), max(uids))
    return [u for u, asked in ((first, "MIN" in options), (last, "MAX" in options)) if asked]


def _esearch(session, cmd, numbers, options, sorted_: bool, modseq: int | None = None) -> None:
    """C{* ESEARCH (TAG "t") [UID] ...}: MIN, MAX, COUNT, ALL as asked; MIN, MAX and ALL
    are left out when nothing matched (RFC 4731 3.1)."""
    line = b'ESEARCH (TAG "' + cmd.tag.encode() + b'")'
    if cmd.uid:
        line += b" UID"
    if numbers:
        # For SORT, MIN and MAX are the first and last in the sort order (RFC 5267 3).
        first, last = (numbers[0], numbers[-1]) if sorted_ else (min(numbers), max(numbers))
        if "MIN" in options:
            line += b" MIN %d" % first
        if "MAX" in options:
            line += b" MAX %d" % last
    if "COUNT" in options:
        line += b" COUNT %d" % len(numbers)
    if numbers and "ALL" in options:
        # SORT's keep the sort order (RFC 5267 3): only runs that ascend are joined.
        line += b" ALL " + compactSet(numbers if sorted_ else sorted(numbers)).encode()
    if numbers and modseq is not None:
        line += b" MODSEQ %d" % modseq  # RFC 7162 3.1.5 (search-return-data)
    session.untagged(line)


def _plain(session, cmd, name: bytes, numbers, modseq: int | None = None) -> bool:
    """C{* SEARCH n ...} or C{* SORT n ...} when no result option was asked for; with
    C{(MODSEQ m)} after them if given (RFC 7162 3.1.5)."""
    if cmd.args.returns is not None:
        return False
    tail = b" (MODSEQ %d)" % modseq if numbers and modseq is not None else b""
    session.untagged(name + b"".join(b" %d" % n for n in numbers) + tail)
    return True


def answerSearch(session, cmd, uids, modseqs: dict[int, int] | None = None) -> None:
    """Answer a SEARCH that found C{uids} (ascending), saving the result if asked;
    C{modseqs}: the MODSEQ of each found, when the criteria had MODSEQ."""
    returns = cmd.args.returns
    numbers = _numbers(session, cmd, uids)
    if _plain(session, cmd, b"SEARCH", numbers, _highest(modseqs, uids)):
        return
    options = [o for o in returns if o != "SAVE"] if returns else ["ALL"]
    if "SAVE" in returns:
        saveResult(session, uids, options)
        if not options:
            return  # RFC 5182 2.4: SAVE alone answers with no ESEARCH
    _esearch(session, cmd, numbers, options, sorted_=False,
             modseq=_highest(modseqs, _returned(uids, options, sorted_=False)))


def answerSort(session, cmd, uids, modseqs: dict[int, int] | None = None) -> None:
    """Answer a SORT whose result is C{uids} in sort order: C{* SORT}, or ESORT's ESEARCH."""
    numbers = _numbers(session, cmd, uids)
    if not _plain(session, cmd, b"SORT", numbers, _highest(modseqs, uids)):
        options = cmd.args.returns or ["ALL"]
        _esearch(session, cmd, numbers, options, sorted_=True,
                 modseq=_highest(modseqs, _returned(uids, options, sorted_=True)))


def saveResult(session, uids, options) -> None:
    """
    RFC 5182 2.4: with MIN and/or MAX and neither ALL nor COUNT, only those are saved;
    otherwise every match. Kept as UIDs, so that C{$} names the same messages in a UID
    command and in one by number, and an expunged message simply drops out of it.
    """
    if uids and options and not {"ALL", "COUNT"} & set(options):
        picked = set()
        if "MIN" in options:
            picked.add(uids[0])
        if "MAX" in options:
            picked.add(uids[-1])
        uids = sorted(picked)
    session.savedSearch = tuple(uids)
