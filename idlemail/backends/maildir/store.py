"""
One Maildir folder: the process's index of it (UID -> file, flags, size, date) and the
jobs that change the folder on disk.

Who touches what (the rule every method here keeps):

- Each folder has one serial queue (a L{DeferredLock}): scans, deliveries, flag renames,
  unlinks and claims run one at a time, in the order they were asked for, each in a
  disk thread of the backend's L{DiskPool}. So UIDs are given in order, and a
  session's commands complete in order.
- A job's thread reads the disk and may I{read} the index; it never writes it. What it
  found is applied to the index by a callback on the reactor thread before the queue
  starts the next job. So the index changes only on the reactor thread, and a job's
  thread reads an index that nobody writes meanwhile.
- The C{dovecot-uidlist} and C{dovecot-keywords} state (L{UidList}, L{Keywords}) belong
  to the jobs' threads; the reactor reads the copies each apply makes (C{uidValidity},
  C{uidNext}, C{keywordNames}).
- Reads that change nothing (bodies; the stat that learns a size or a date) run in the
  pool outside the queue, given the file's name; their callbacks store what they
  learned (C{Entry.size}, C{Entry.mtime}) on the reactor thread. Job threads never read
  those two fields.
- The tracker is never touched here: each apply hands its L{Changes} to C{onChanges}
  (the open folder's publisher), on the reactor thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger

from idlemail.backends.maildir import disk
from idlemail.backends.maildir import flags as F
from idlemail.backends.maildir.dotlock import DotLock, underLock
from idlemail.backends.maildir.uidlist import UidList
from idlemail.errors import IMAPError
from idlemail.records import applyFlags

log = Logger()
SEEN, DELETED = "\\Seen", "\\Deleted"


@dataclass(slots=True)
class Entry:
    uid: int
    base: str
    subdir: str  # "new" or "cur"
    filename: str
    flags: frozenset
    size: int | None = None  # RFC822.SIZE (CRLF line ends): from ,W= or learned once
    mtime: float | None = None  # INTERNALDATE: the file's mtime, learned once

    @property
    def info(self) -> str:
        return F.split(self.filename)[1]

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

    def __bool__(self):
        return bool(self.added or self.expunged or self.flags)


@dataclass(slots=True)
class Delivery:
    """One message to add: its bytes, or another folder's file to copy."""
    flags: frozenset
    recent: bool
    data: bytes | None = None
    stamp: float | None = None  # the internal date to give it, or None for now
    source: Path | None = None  # the source folder of a copy
    where: tuple | None = None  # (base, subdir, name) of the source file
    done: defer.Deferred = field(default_factory=defer.Deferred)
    result: object = None  # a disk.Delivered, an exception, or None (source gone)


@dataclass(slots=True)
class _Scan:
    """What a scan's thread found: the index changes, and the bases still to number."""
    expunged: list
    renamed: list  # (uid, subdir, name, flags)
    fresh: dict  # base -> (subdir, name) of files the index does not have
    unnumbered: list = field(default_factory=list)
    added: list = field(default_factory=list)  # Entry, by UID
    complete: bool = False  # added is filled in


class Folder:
    """
    @param newValidity: allocates this folder's UIDVALIDITY when it has none yet.
    @ivar onChanges: called on the reactor with C{(changes, origin)} after each job
        that changed the index (the open folder's publisher), or None.
    """

    def __init__(self, path: Path, pool, reactor, newValidity=None):
        self.path, self.pool, self.reactor = path, pool, reactor
        self.queue = defer.DeferredLock()
        self.uidlist = UidList(path) if newValidity is None else UidList(path, newValidity)
        self.keywords = F.Keywords(path)
        self._symlinks: set[str] = set()  # message files skipped, warned about once
        # The index and the reactor's copies: written only on the reactor thread.
        self.byUid: dict[int, Entry] = {}
        self.byBase: dict[str, int] = {}
        self.unseen = 0
        self.inNew = 0
        self.uidValidity = 0
        self.uidNext = 1
        self.keywordNames: tuple[str, ...] = ()
        self.keywordsFull = False
        self.scanned = False  # a full scan has been applied at least once
        self.onChanges = None
        # The watch's record of events our own changes cause (None when not watched
        # by inotify); job threads add to it, the watch takes from it.
        self.ownChanges = None
        self._deliveries: list[Delivery] = []
        self._bases: set[str] = set()  # bases to refresh at the next refresh job
        self._refreshQueued = self._rescanQueued = False

    # --- the queue ----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.queue.locked or bool(self.queue.waiting)

    def _serially(self, step) -> defer.Deferred:
        return self.queue.run(step)

    def _thread(self, work, *args):
        """Run in a disk thread: the job, then copies of what the reactor may read."""
        result = work(*args)
        return result, self._copies()

    def _copies(self):
        known = tuple(self.keywords.known())
        return (known, self.keywords.full(), self.uidlist.uidValidity, self.uidlist.uidNext)

    def _takeCopies(self, copies) -> None:
        self.keywordNames, self.keywordsFull, validity, uidNext = copies
        if validity != self.uidValidity:
            self.uidValidity, self.uidNext = validity, uidNext
        else:
            self.uidNext = max(self.uidNext, uidNext)

    def _taken(self, out):
        result, copies = out
        self._takeCopies(copies)
        return result

    def _inPool(self, work, *args) -> defer.Deferred:
        """C{work(*args)} in a disk thread; its result on the reactor, copies taken."""
        return self.pool.run(self._thread, work, *args).addCallback(self._taken)

    def _locked(self, work, *args, lock: DotLock | None = None) -> defer.Deferred:
        """C{work(lock, *args)} in a disk thread holding C{dovecot-uidlist.lock}."""
        lock = lock or DotLock(self.uidlist.path)
        return underLock(self.pool, self.reactor, lock,
                         lambda: self._thread(work, lock, *args)).addCallback(self._taken)

    def _publish(self, changes: Changes, origin=None) -> None:
        if self.onChanges is not None and changes:
            self.onChanges(changes, origin)

    # --- the index (reactor thread only) --------------------------------------------------
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

    # --- scanning -----------------------------------------------------------------------
    def scan(self, after=None) -> defer.Deferred:
        """
        Compare the whole folder with the index (at open, for STATUS, and by the
        poller); numbers new files. C{after()} runs on the reactor once the result is
        applied, before any later job.
        """
        def step():
            return self._scanJob(None).addCallback(lambda _: after() if after else None)
        return self._serially(step)

    def rescan(self) -> None:
        """A full scan unless one is already waiting (the poller's tick)."""
        if self._rescanQueued:
            return
        self._rescanQueued = True

        def step():
            self._rescanQueued = False
            return self._scanJob(None)
        self._serially(step).addErrback(self._logged, "Scanning")

    def refresh(self, bases) -> None:
        """Compare only these bases (from file events) with the index, soon."""
        self._bases.update(bases)
        if self._refreshQueued:
            return
        self._refreshQueued = True

        def step():
            bases, self._bases, self._refreshQueued = self._bases, set(), False
            return self._scanJob(bases)
        self._serially(step).addErrback(self._logged, "Reading changes of")

    def _logged(self, failure, doing: str) -> None:
        log.failure("{doing} {path} failed", failure, doing=doing, path=str(self.path))

    def _scanJob(self, bases) -> defer.Deferred:
        def numbered(scan: _Scan):
            if scan.complete:
                return scan
            return self._locked(self._numberThread, scan)
        d = self._inPool(self._scanThread, bases).addCallback(numbered)
        return d.addCallback(self._applyScan, bases is None)

    def _scanThread(self, bases) -> _Scan:
        self.keywords.load()
        self.uidlist.load()
        if bases is None:
            found = disk.listing(self.path, self._symlinks)
            known = self.byBase.keys()
        else:
            found = {}
            for base in bases:
                where = self._findThread(base)
                if where is not None:
                    found[base] = where
            known = [b for b in bases if b in self.byBase]
        expunged = [self.byBase[b] for b in known if b not in found]
        expunged.sort()
        renamed, fresh = [], {}
        for base, (subdir, name) in found.items():
            uid = self.byBase.get(base)
            if uid is None:
                fresh[base] = (subdir, name)
                continue
            e = self.byUid[uid]
            if e.subdir != subdir or e.filename != name:
                renamed.append((uid, subdir, name, self.keywords.toFlags(F.split(name)[1])))
        self.uidlist.forget(self.byUid[u].base for u in expunged)
        if bases is None:
            self.uidlist.forget(b for b in self.uidlist.byBase if b not in found)
        scan = _Scan(expunged, renamed, fresh)
        scan.unnumbered = [b for b in fresh if b not in self.uidlist.byBase]
        if not scan.unnumbered and not self.uidlist.wantsRewrite():
            self._entriesThread(scan)  # no lock needed
        return scan

    def _findThread(self, base: str):
        uid = self.byBase.get(base)
        if uid is not None:
            e = self.byUid[uid]
            if os.path.lexists(self.path / e.subdir / e.filename):
                return (e.subdir, e.filename)
        where = disk.locate(self.path, base)
        if where is not None and os.path.islink(self.path / where[0] / where[1]):
            return None  # never a message: it could point anywhere
        return where

    def _numberThread(self, lock: DotLock, scan: _Scan) -> _Scan:
        """Holding the lock: give the unnumbered files UIDs, in delivery order."""
        self.uidlist.load()  # another writer may have numbered some meanwhile
        mtimes = {}
        for base in scan.unnumbered:
            mtimes[base] = disk.mtimeOf(self.path, *scan.fresh[base]) or 0.0
        order = sorted((b for b in scan.unnumbered if b not in self.uidlist.byBase),
                       key=lambda b: (mtimes[b], b))
        assigned = self.uidlist.assign(order)
        self.uidlist.record(lock, assigned, self._presentThread)
        return self._entriesThread(scan, mtimes)

    def _presentThread(self) -> set[str]:
        # Two listings: a file being renamed may be missed by one readdir.
        return set(disk.listing(self.path, self._symlinks)) | \
            set(disk.listing(self.path, self._symlinks))

    def _entriesThread(self, scan: _Scan, mtimes=None) -> _Scan:
        mtimes = mtimes or {}
        for base, (subdir, name) in scan.fresh.items():
            uid = self.uidlist.byBase.get(base)
            if uid is None:
                continue  # could not be numbered (e.g. the lock): next time
            scan.added.append(Entry(uid, base, subdir, name,
                                    self.keywords.toFlags(F.split(name)[1]),
                                    disk.vsizeOf(base), mtimes.get(base)))
        scan.added.sort(key=lambda e: e.uid)
        scan.complete = True
        return scan

    def _applyScan(self, scan: _Scan, full: bool) -> Changes:
        changes = Changes()
        for uid in scan.expunged:
            if self._drop(uid) is not None:
                changes.expunged.append(uid)
        for uid, subdir, name, newFlags in scan.renamed:
            e = self.byUid.get(uid)
            if e is not None and self._move(e, subdir, name, newFlags):
                changes.flags.append((uid, newFlags))
        for e in scan.added:
            if e.uid in self.byUid or e.base in self.byBase:
                continue  # never give one UID two files
            self._insert(e)
            changes.added.append(e.uid)
            if e.subdir == "new":
                changes.recent.append(e.uid)
        changes.flags.sort()
        if full:
            self.scanned = True
        self._publish(changes)
        return changes

    # --- delivering (APPEND, COPY, MOVE) --------------------------------------------------
    def deliver(self, deliveries: list[Delivery]) -> list[defer.Deferred]:
        """
        Add messages. Deliveries asked for while another batch is being written share
        one commit: one directory fsync and one uidlist append. Each Deferred fires
        with the message's UID (None if a copy's source is gone) once it is durable,
        after its L{Changes} were handed to C{onChanges}.
        """
        queued = bool(self._deliveries)
        self._deliveries.extend(deliveries)
        if not queued:
            self._serially(self._commit).addErrback(self._logged, "Delivering to")
        return [d.done for d in deliveries]

    def _commit(self) -> defer.Deferred:
        batch, self._deliveries = self._deliveries, []

        def failed(failure):
            # Nothing acknowledged: take back what was written, answer every APPEND NO.
            written = [d.result for d in batch if isinstance(d.result, disk.Delivered)]
            d = self.pool.run(disk.unlinkDelivered, self.path, written)
            d.addErrback(self._logged, "Cleaning up after a failed delivery to")
            return d.addCallback(lambda _: self._unanswered(failure, batch))

        lock = DotLock(self.uidlist.path)

        def written(uids):
            if uids is not None:
                return uids
            return self._locked(self._recordThread, batch, lock=lock)  # wait for it
        # One disk thread writes the batch and, if the lock is free, records its UIDs.
        d = self._inPool(self._writeAndRecordThread, batch, lock).addCallback(written)
        d.addCallbacks(self._applyDeliveries, failed, callbackArgs=(batch,))
        return d.addErrback(self._unanswered, batch)

    def _writeAndRecordThread(self, batch: list[Delivery], lock: DotLock):
        """Write the batch; its UIDs if the lock was free, else None."""
        self._writeThread(batch)
        if not lock.attempt():
            return None
        try:
            return self._recordThread(lock, batch)
        finally:
            lock.release()

    def _unanswered(self, failure, batch: list[Delivery]) -> None:
        for delivery in batch:
            if not delivery.done.called:
                delivery.done.errback(failure)

    def _writeThread(self, batch: list[Delivery]) -> None:
        """Each message to its file, fsynced, renamed into new/ or cur/."""
        for delivery in batch:
            try:
                info = self.keywords.toInfo(delivery.flags)
                delivery.result = self._writeOne(delivery, info)
            except (IMAPError, OSError) as e:
                delivery.result = e

    def _writeOne(self, delivery: Delivery, info: str):
        if delivery.source is None:
            return disk.writeMessage(self.path, disk.crlf(delivery.data), info,
                                     delivery.recent, delivery.stamp, self.ownChanges)
        linked = disk.linkMessage(self.path, delivery.source, *delivery.where, info,
                                  delivery.recent, self.ownChanges)
        if linked is not None:
            return linked
        data = disk.readMessage(delivery.source, *delivery.where)
        if data is None:
            return None  # the source is gone: an expunge to come
        stamp = disk.mtimeOf(delivery.source, *delivery.where[1:])
        return disk.writeMessage(self.path, data, info, delivery.recent, stamp,
                                 self.ownChanges)

    def _recordThread(self, lock: DotLock, batch: list[Delivery]) -> dict:
        """
        Holding the lock: number the batch and make it durable, one uidlist write and
        one fsync per directory for all. (Either order of the two is safe, as nothing
        is acknowledged before both: a line whose file was lost is a dead line, a file
        whose line was lost is numbered again. The uidlist's fdatasync first usually
        commits the renames with it, which leaves the directory fsync little to do.)
        """
        self.uidlist.load()
        written = [d.result for d in batch if isinstance(d.result, disk.Delivered)]
        assigned = self.uidlist.assign([d.base for d in written])
        self.uidlist.record(lock, assigned, self._presentThread)
        for subdir in sorted({d.subdir for d in written}):
            disk.fsyncDir(self.path / subdir)
        return {d.base: self.uidlist.byBase[d.base] for d in written}

    def _applyDeliveries(self, uids: dict, batch: list[Delivery]) -> None:
        changes = Changes()
        for delivery in batch:
            done = delivery.result
            if not isinstance(done, disk.Delivered):
                continue
            uid = uids[done.base]
            if uid not in self.byUid and done.base not in self.byBase:
                self._insert(Entry(uid, done.base, done.subdir, done.name,
                                   self.keywords.toFlags(F.split(done.name)[1]),
                                   done.size, done.mtime))
                changes.added.append(uid)
        changes.added.sort()
        self._publish(changes)
        for delivery in batch:
            done = delivery.result
            if isinstance(done, Exception):
                delivery.done.errback(done)
            else:
                delivery.done.callback(None if done is None else uids[done.base])

    # --- flags, expunges, claims ----------------------------------------------------------
    def store(self, uids, flags, mode: str, origin=None) -> defer.Deferred:
        """Rename files to carry the new flags; a dict uid -> flags of those that exist."""
        def step():
            return self._inPool(self._storeThread, list(uids), flags, mode).addCallback(
                self._applyStore, origin)
        return self._serially(step)

    def _storeThread(self, uids, flags, mode):
        wanted = self.keywords.canonical(flags)
        plans = []
        for uid in uids:  # every letter first: a refusal (LIMIT) renames nothing
            e = self.byUid.get(uid)
            if e is not None:
                info = self.keywords.toInfo(applyFlags(e.flags, wanted, mode), keep=e.info)
                plans.append((e, info))
        out = []
        for e, info in plans:
            name = e.base + F.INFO + info
            if e.subdir == "cur" and e.filename == name:
                out.append((e.uid, "cur", name, e.flags))
                continue
            where = disk.renameMessage(self.path, *e.where, "cur", name, self.ownChanges)
            if where is not None:
                out.append((e.uid, *where, self.keywords.toFlags(info)))
        return out

    def _applyStore(self, renamed, origin) -> dict:
        result, changes = {}, Changes()
        for uid, subdir, name, newFlags in renamed:
            e = self.byUid.get(uid)
            if e is None:
                continue
            if self._move(e, subdir, name, newFlags):
                changes.flags.append((uid, newFlags))
            result[uid] = newFlags
        self._publish(changes, origin)
        return result

    def remove(self, uids=None, onlyDeleted: bool = True, origin=None) -> defer.Deferred:
        """Unlink messages (those flagged \\Deleted, among C{uids} if given); the UIDs
        removed, ascending."""
        def step():
            return self._inPool(self._removeThread, uids, onlyDeleted).addCallback(
                self._applyRemove, origin)
        return self._serially(step)

    def _removeThread(self, uids, onlyDeleted: bool) -> list[int]:
        candidates = sorted(self.byUid) if uids is None else sorted(uids)
        doomed = [e for u in candidates if (e := self.byUid.get(u)) is not None
                  and (DELETED in e.flags or not onlyDeleted)]
        for e in doomed:
            disk.unlinkMessage(self.path, *e.where, self.ownChanges)
        self.uidlist.forget(e.base for e in doomed)
        return [e.uid for e in doomed]

    def _applyRemove(self, gone, origin) -> list[int]:
        gone = [uid for uid in gone if self._drop(uid) is not None]
        self._publish(Changes(expunged=gone), origin)
        return gone

    def claim(self, uids) -> None:
        """Messages a session has seen as \\Recent leave new/ for cur/, as Dovecot
        does, so that no other program counts them as recent again."""
        if not any((e := self.byUid.get(u)) is not None and e.subdir == "new" for u in uids):
            return  # delivered to cur/ already (a writer had the folder selected)

        def step():
            moving = [(e.uid, e.where) for u in uids
                      if (e := self.byUid.get(u)) is not None and e.subdir == "new"]
            return self._inPool(self._claimThread, moving).addCallback(self._applyClaim)
        self._serially(step).addErrback(self._logged, "Moving recent messages of")

    def _claimThread(self, moving):
        out = []
        for uid, (base, subdir, name) in moving:
            target = name if F.INFO in name else name + F.INFO
            where = disk.renameMessage(self.path, base, subdir, name, "cur", target,
                                       self.ownChanges)
            if where is not None:
                out.append((uid, *where))
        return out

    def _applyClaim(self, moved) -> None:
        for uid, subdir, name in moved:
            e = self.byUid.get(uid)
            if e is not None:
                self._move(e, subdir, name, e.flags)

    # --- reading (outside the queue) ------------------------------------------------------
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
