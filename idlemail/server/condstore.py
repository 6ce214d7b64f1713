"""
CONDSTORE and QRESYNC (RFC 7162) for the command handlers: turning them on, the MODSEQ
data items, and the answers of QRESYNC (VANISHED (EARLIER) and the changed flags) that a
SELECT with QRESYNC parameters and a UID FETCH with VANISHED give.

The server offers both only over a backend that keeps MODSEQs
(L{idlemail.interfaces.ICondStoreBackend}); its mailboxes answer per-message MODSEQs and
the expunges since one (L{idlemail.interfaces.IModSeqMailbox}). A QRESYNC answer is
exact while the backend remembers the expunges asked about, and conservative (every UID
the client may know that is not there now, narrowed by the client's sequence match data)
once they are older than what it keeps, as RFC 7162 3.2.5.2 allows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import chain

from idlemail.errors import BadRequest
from idlemail.interfaces import ICondStoreBackend, IModSeqMailbox
from idlemail.server.responses import fetchFlags
from idlemail.server.sequences import compactSet, mergedRanges


def offered(session) -> bool:
    """Whether this server offers CONDSTORE and QRESYNC (its backend keeps MODSEQs)."""
    return ICondStoreBackend.providedBy(session.factory.backend)


def enable(session, qresync: bool = False, announce: bool = True) -> bool:
    """
    Turn CONDSTORE (and QRESYNC) on for the session; True if it was not on before. Once
    on, a mailbox selected is told its HIGHESTMODSEQ (RFC 7162 3.1: the command that
    enabled CONDSTORE was not the SELECT that says it anyway).
    """
    if not offered(session):
        raise BadRequest("CONDSTORE is not supported by this server")
    fresh = not session.condstore
    session.condstore = True
    if qresync:
        session.qresync = True
    if fresh and announce and session.view is not None:
        session.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % session.view.toldModseq())
    return fresh


def modseqMailbox(session):
    """The selected mailbox, if it keeps MODSEQs; else the command is BAD."""
    mailbox = session.mailbox
    if not IModSeqMailbox.providedBy(mailbox):
        raise BadRequest("This mailbox keeps no MODSEQs (CONDSTORE is not supported)")
    return mailbox


def modseqItem(modseq: int) -> bytes:
    return b"MODSEQ (%d)" % modseq


# --- QRESYNC ------------------------------------------------------------------------

def _expand(seqset, largest: int):
    """The numbers of a sequence set in the order given (for seq-match-data)."""
    for lo, hi in seqset.resolve(largest):
        yield from range(lo, hi + 1)


def _matchedUpTo(view, seqMatch) -> int:
    """
    RFC 7162 3.2.5.2: the client's known sequence numbers and their UIDs. While a pair
    still holds in this view, nothing below its UID was expunged since the client saw
    the pair (new messages only ever come above); the highest such UID is returned.
    """
    if seqMatch is None:
        return 0
    seqs, uids = seqMatch
    matched = 0
    for seq, uid in zip(_expand(seqs, view.exists), _expand(uids, view.known)):
        if view.seqOf(uid) != seq:
            break
        matched = uid
    return matched


def _missing(present: list[int], ranges, above: int) -> list[tuple[int, int]]:
    """The parts of C{ranges} above C{above} that hold no UID of C{present}."""
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        lo = max(lo, above + 1)
        if lo > hi:
            continue
        start = lo
        for uid in present[bisect_left(present, lo):bisect_right(present, hi)]:
            if uid > start:
                out.append((start, uid - 1))
            start = uid + 1
        if start <= hi:
            out.append((start, hi))
    return out


def _inRanges(uid: int, starts: list[int], ranges) -> bool:
    i = bisect_right(starts, uid) - 1
    return i >= 0 and uid <= ranges[i][1]


async def vanishedSince(session, modseq: int, ranges, seqMatch=None) -> str:
    """
    The uid-set of C{VANISHED (EARLIER)}: the UIDs within C{ranges} (merged, ascending)
    expunged since C{modseq}, exactly if the backend still knows, else conservatively.
    """
    mailbox = modseqMailbox(session)
    exact = await mailbox.expungedSince(modseq)
    if exact is not None:
        starts = [lo for lo, _ in ranges]
        return compactSet(u for u in exact if _inRanges(u, starts, ranges))
    top = mailbox.uidNext - 1
    clipped = [(lo, min(hi, top)) for lo, hi in ranges if lo <= top]
    missing = _missing(mailbox.tracker.uids, clipped, _matchedUpTo(session.view, seqMatch))
    return ",".join(f"{lo}" if lo == hi else f"{lo}:{hi}" for lo, hi in missing)


async def changedSince(session, modseq: int, uids) -> None:
    """Untagged FETCH (UID FLAGS MODSEQ) of those of C{uids} (in the view, ascending)
    changed since C{modseq}."""
    mailbox, view = session.mailbox, session.view
    modseqs = await mailbox.modseqs(uids)
    changed = [uid for uid in uids if modseqs.get(uid, 0) > modseq]
    if not changed:
        return
    flags = await mailbox.flags(changed)
    for uid in changed:
        seq = view.seqOf(uid)
        if seq is not None and uid in flags:
            session.untagged(fetchFlags(seq, flags[uid], uid in view.recent, uid,
                                        modseqs[uid]))


async def resync(session, args) -> None:
    """
    The rest of a SELECT with QRESYNC parameters whose UIDVALIDITY still holds (RFC 7162
    3.2.5): first what vanished since the client's MODSEQ, then the flags changed since,
    both within the UIDs it knows (all of them if it gave none).
    """
    mailbox, view = session.mailbox, session.view
    largest = mailbox.uidNext - 1
    ranges = (mergedRanges(args.knownUids, largest) if args.knownUids is not None
              else [(1, largest)])
    gone = await vanishedSince(session, args.modseq, ranges, args.seqMatch)
    if gone:
        session.untagged(b"VANISHED (EARLIER) " + gone.encode())
    inView = view.uidsInView()
    known = list(chain.from_iterable(
        inView[bisect_left(inView, lo):bisect_right(inView, hi)] for lo, hi in ranges))
    await changedSince(session, args.modseq, known)
