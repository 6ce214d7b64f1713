"""
The UIDs expunged from one mailbox, each with the MODSEQ of its expunge, as QRESYNC needs
them (RFC 7162 3.2.5: C{VANISHED (EARLIER)} names what was expunged since the client's
MODSEQ, exactly, rather than every UID it might know).

Bounded: past C{limit} UIDs the oldest expunges are forgotten and folded into a floor,
"everything expunged up to MODSEQ C{floor} is forgotten". A question from at or above the
floor is answered exactly; one from below it gets None, and the server answers it
conservatively (every UID the client may know that is not there now), which RFC 7162
allows.
"""

from __future__ import annotations

from bisect import bisect_right

#: Expunged UIDs remembered per mailbox (about 50 octets each, in memory).
DEFAULT_LIMIT = 100_000


class ExpungedUids:
    """
    @ivar floor: expunges with a MODSEQ at or below it may have been forgotten.
    """

    __slots__ = ("_modseqs", "_uids", "_count", "floor", "limit")

    def __init__(self, limit: int = DEFAULT_LIMIT, floor: int = 0):
        self._modseqs: list[int] = []  # ascending, one per expunge
        self._uids: list[tuple[int, ...]] = []  # the UIDs of each expunge
        self._count = 0
        self.floor, self.limit = floor, limit

    def __len__(self) -> int:
        return self._count

    def add(self, uids, modseq: int) -> None:
        """These UIDs were expunged with this MODSEQ."""
        uids = tuple(uids)
        if not uids or modseq <= self.floor:
            return
        if not self._modseqs or modseq >= self._modseqs[-1]:
            self._modseqs.append(modseq)
            self._uids.append(uids)
        else:  # another process's expunge, read late: keep the order of MODSEQs
            i = bisect_right(self._modseqs, modseq)
            self._modseqs.insert(i, modseq)
            self._uids.insert(i, uids)
        self._count += len(uids)
        while self._count > self.limit and len(self._modseqs) > 1:
            self.floor = self._modseqs.pop(0)
            self._count -= len(self._uids.pop(0))

    def since(self, modseq: int) -> list[int] | None:
        """The UIDs expunged with a MODSEQ above C{modseq}, ascending; None if some of
        them may have been forgotten."""
        if modseq < self.floor:
            return None
        out = sorted({uid for uids in self._uids[bisect_right(self._modseqs, modseq):]
                      for uid in uids})
        return out

    def records(self):
        """C{(modseq, uids)} of every expunge remembered, oldest first."""
        return zip(self._modseqs, self._uids)
