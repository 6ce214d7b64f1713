"""
SELECT and EXAMINE with the parameters of RFC 4466 2.1 that idlemail knows: CONDSTORE
(RFC 7162 3.1.8) and QRESYNC's resynchronisation data (RFC 7162 3.2.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.wire.reader import Reader, SequenceSet


@dataclass(frozen=True, slots=True)
class QresyncArgs:
    """
    SELECT's QRESYNC parameter: what the client last knew of the mailbox. C{knownUids}
    and C{seqMatch} (the known sequence numbers and their UIDs, two L{SequenceSet}s) are
    None when not given.
    """

    uidValidity: int
    modseq: int
    knownUids: SequenceSet | None = None
    seqMatch: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class SelectArgs:
    """SELECT and EXAMINE: the mailbox, and the CONDSTORE / QRESYNC parameters."""

    mailbox: bytes
    condstore: bool = False
    qresync: QresyncArgs | None = None


def select(r: Reader, uid: bool) -> SelectArgs:
    r.sp()
    mailbox = r.astring("a mailbox name")
    if not r.maybe(b" "):
        return SelectArgs(mailbox)
    r.expect(b"(", "a list of select parameters")
    condstore, qresync, first = False, None, True
    while not r.maybe(b")"):
        if not first:
            r.sp()
        first = False
        name = r.atom(what="a select parameter").upper()
        if name == "CONDSTORE" and not condstore:
            condstore = True
        elif name == "QRESYNC" and qresync is None:
            r.sp()
            qresync = _qresync(r)
        else:
            r.fail(f"Unknown or repeated select parameter {name}")
    if first:
        r.fail("Expected select parameters")
    return SelectArgs(mailbox, condstore, qresync)


def _qresync(r: Reader) -> QresyncArgs:
    # "(" uidvalidity SP mod-sequence-value [SP known-uids [SP seq-match-data]] ")"
    r.expect(b"(", "QRESYNC parameters")
    validity = r.number("a UIDVALIDITY")
    if validity == 0:
        r.fail("UIDVALIDITY is a positive number")
    r.sp()
    modseq = r.modseq()
    known = match = None
    if r.maybe(b" ") and r.peek() != 0x28:
        known = r.sequenceSet()
        r.maybe(b" ")
    if r.peek() == 0x28:
        r.pos += 1
        seqs = r.sequenceSet()
        r.sp()
        match = (seqs, r.sequenceSet())
        r.expect(b")")
    r.expect(b")")
    return QresyncArgs(validity, modseq, known, match)
