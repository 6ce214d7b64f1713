"""
What the reactor knows of one Maildir folder: its index (UID -> file, flags, size,
date), counters for STATUS, and copies of UIDVALIDITY, UIDNEXT and the keywords.

Reactor thread only. It changes only as the folder's lane (L{idlemail.backends.maildir.
store}) reports what its jobs did, in their order; sessions read it, and it agrees with
what was published to them. Reads that change nothing (bodies; the stat that learns a
size or a date) run in the disk pool, given a file's name from here; their callbacks
store what they learned (C{Entry.size}, C{Entry.mtime}).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet import defer

from idlemail.backends.maildir import disk
from idlemail.backends.maildir.pool import breathing

SEEN = "\\Seen"


class Cause:
    """Why the index changed when no session's command changed it: the C{origin} an
    apply hands to C{onChanges} (see L{idlemail.backends.maildir.bus})."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


# Seen on disk by the folder's watcher: another program's change, news to every process.
WATCHED = Cause("watched")
# Read from the store to catch up (a scan at open or for STATUS, another process's
# change the bus named): news to this process's sessions only.
CAUGHT_UP = Cause("caught up")


def either(queued: Cause | None, asked: Cause) -> Cause:
    """One look for two reasons: if either is news to every process, the look is."""
    return WATCHED if WATCHED in (queued, asked) else asked


@dataclass(slots=True)
class Entry:
    """The index's view of one message (reactor thread)."""
    uid: int
    base: str
    subdir: str  # "new" or "cur"
    filename: str
    flags: frozenset
    size: int | None = None  # RFC822.SIZE (CRLF line ends): from ,W= or learned once
    mtime: float | None = None  # INTERNALDATE: the file's mtime, learned once
    modseq: int = 0  # RFC 7162 MODSEQ (idlemail.backends.maildir.modseq)

    @property
    def where(self) -> tuple:
        """What a disk function needs to find the file: (base, subdir, filename)."""
        return (self.base, self.subdir, self.filename)


@dataclass
class Changes:
    added: list = field(default_factory=list)  # UIDs, ascending
    expunged: list = field(default_factory=list)
    flags: list = field(default_factory=list)  # (uid, frozenset)
    recent: list = field(default_factory=list)  # those of added found in new/
    modseqs: dict = field(default_factory=dict)  # uid -> MODSEQ of each change above

    def __bool__(self):
        return bool(self.added or self.expunged or self.flags)


@dataclass(slots=True)
class Built:
    """An index made whole in a disk thread (a folder's first scan), to be taken as is."""
    byUid: dict
    byBase: dict
    unseen: int
    inNew: int


def build(entries) -> Built:
    """Safe in a thread: an index of C{entries}."""
    built = Built({}, {}, 0, 0)
    for e in breathing(entries):
        built.byUid[e.uid] = e
        built.byBase[e.base] = e.uid
        built.unseen += SEEN not in e.flags
        built.inNew += e.subdir == "new"
    return built


class Index:
    """
    @ivar onChanges: called with C{(changes, origin)} after each change of the index
        (the folder's publisher), or None. C{origin} is the session token of the
        command that made it (or None), or a L{Cause}.
    """

    def __init__(self, path, pool):
        self.path, self.pool = path, pool
        self.onChanges = None
        self.byUid: dict[int, Entry] = {}
        self.byBase: dict[str, int] = {}
        self.unseen = 0
        self.inNew = 0
        self.uidValidity = 0
        self.uidNext = 1
        self.keywordNames: tuple[str, ...] = ()
        self.keywordsFull = False
        self.highestModseq = 0

    def _takeCopies(self, copies, changes: Changes | None = None) -> None:
        """The lane's figures after a job; messages whose MODSEQ the job gave anew
        without a change of their own (the MODSEQ file was rebuilt) join C{changes}."""
        self.keywordNames, self.keywordsFull, validity, uidNext, highest, renumbered = copies
        if validity != self.uidValidity:
            self.uidValidity, self.uidNext = validity, uidNext
        else:
            self.uidNext = max(self.uidNext, uidNext)
        self.highestModseq = max(self.highestModseq, highest)
        for uid, modseq in renumbered:
            e = self.byUid.get(uid)
            if e is not None:
                e.modseq = modseq
                if changes is not None:
                    changes.flags.append((uid, e.flags))
                    changes.modseqs[uid] = modseq

    def _publish(self, changes: Changes, origin=None) -> None:
        if self.onChanges is not None and changes:
            self.onChanges(changes, origin)

    def _insert(self, e: Entry) -> None:
        self.byUid[e.uid] = e
        self.byBase[e.base] = e.uid
        self.unseen += SEEN not in e.flags
        self.inNew += e.subdir == "new"

    def _drop(self, uid: int) -> Entry | None:
        e = self.byUid.pop(uid, None)
        if e is not None:
            del self.byBase[e.base]
            self.unseen -= SEEN not in e.flags
            self.inNew -= e.subdir == "new"
        return e

    def _move(self, e: Entry, subdir: str, name: str, flags: frozenset) -> bool:
        """The file of C{e} is now C{subdir/name} with C{flags}; True if they changed."""
        self.inNew += (subdir == "new") - (e.subdir == "new")
        self.unseen += (SEEN not in flags) - (SEEN not in e.flags)
        e.subdir, e.filename = subdir, name
        changed = flags != e.flags
        e.flags = flags
        return changed

    def uids(self) -> list[int]:
        return sorted(self.byUid)

    def entry(self, uid: int) -> Entry | None:
        return self.byUid.get(uid)

    def _applyFound(self, result, origin: Cause = CAUGHT_UP) -> Changes:
        """A scan's result: files gone, renamed and new (see L{store._Found})."""
        found, copies = result
        changes = Changes()
        self._takeCopies(copies, changes)
        if found.built is not None and not self.byUid:  # a first scan, made whole
            built = found.built
            self.byUid, self.byBase = built.byUid, built.byBase
            self.unseen, self.inNew = built.unseen, built.inNew
            changes.added = [e.uid for e in found.added]
            changes.recent = [e.uid for e in found.added if e.subdir == "new"]
            changes.modseqs = {e.uid: e.modseq for e in found.added}
            self._publish(changes, CAUGHT_UP)
            return changes
        modseqs = found.modseqs
        for uid in found.expunged:
            if self._drop(uid) is not None:
                changes.expunged.append(uid)
                changes.modseqs[uid] = modseqs[uid]
        for uid, subdir, name, newFlags in found.moved:
            e = self.byUid.get(uid)
            if e is None:
                continue
            e.modseq = modseqs.get(uid, e.modseq)
            if self._move(e, subdir, name, newFlags):
                changes.flags.append((uid, newFlags))
                changes.modseqs[uid] = e.modseq
        for e in found.added:
            if e.uid in self.byUid or e.base in self.byBase:
                continue
            self._insert(e)
            changes.added.append(e.uid)
            changes.modseqs[e.uid] = e.modseq
            if e.subdir == "new":
                changes.recent.append(e.uid)
        changes.flags.sort()
        self._publish(changes, origin)
        return changes

    # --- reading (in the pool, changing nothing) -----------------------------------------
    def learn(self, uids, sizes: bool = True) -> defer.Deferred:
        """Make sure the entries of C{uids} know their date (and size); the UIDs whose
        file is gone, as a set."""
        wanted = [(e.uid, *e.where, sizes and e.size is None) for u in uids
                  if (e := self.byUid.get(u)) is not None
                  and (e.mtime is None or (sizes and e.size is None))]
        if not wanted:
            return defer.succeed(set())

        def learned(facts):
            gone = set()
            for fact in facts:
                e = self.byUid.get(fact.uid)
                if e is None:
                    continue
                if fact.mtime is None:
                    gone.add(fact.uid)
                    continue
                e.mtime = fact.mtime
                if fact.size is not None:
                    e.size = fact.size
            return gone
        return self.pool.run(disk.learnFacts, self.path, wanted).addCallback(learned)

    def read(self, uid: int) -> defer.Deferred:
        """The message with CRLF line ends, or None if its file is gone."""
        e = self.byUid.get(uid)
        if e is None:
            return defer.succeed(None)

        def got(data):
            if data is not None and self.byUid.get(uid) is e:
                e.size = len(data)
            return data
        return self.pool.run(disk.readMessage, self.path, *e.where).addCallback(got)
