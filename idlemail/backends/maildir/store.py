"""
The jobs that change one Maildir folder on disk, and the lane's model they work on.

Who touches what (the rule every method here keeps):

- Changes to the folder (scans, deliveries, flag renames, unlinks, claims) are jobs of
  the folder's L{Lane}: they run one at a time, in the order asked, in the backend's
  disk threads. So UIDs are given in order, and a session's commands complete in order.
  A delivery takes its place in that order once its message is written and fsynced in
  tmp/ (any disk thread, in parallel), so that a flag change asked meanwhile need not
  wait for another session's fsync: changes asked at once take effect in either order,
  each between its request and its answer.
- The lane's own model of the folder (L{OnDisk} records by UID and base, the
  L{UidList}, the L{Keywords}) belongs to the lane: only its jobs read or write it,
  one at a time. A job changes the disk and the model, and returns what changed.
- The index (L{idlemail.backends.maildir.index.Index}, which a L{Folder} is) belongs
  to the reactor thread: it is changed only by the C{_apply*} methods, which the lane
  calls on the reactor with each job's result, in the order of the jobs.
- The tracker is never touched here: each apply hands its L{Changes} to C{onChanges}
  (the open folder's publisher), on the reactor thread.
- MODSEQs (L{idlemail.backends.maildir.modseq}): every job that changes the folder, or
  finds it changed, holds the MODSEQ file's lock while it works, gives its changes one
  new MODSEQ, and makes the records durable before its result is applied; so a MODSEQ is
  told to nobody before it is on disk. Jobs waiting in the lane together run as one group
  (L{Folder._locked}): one hold of the lock and one fdatasync of the records for all.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from idlemail.backends.maildir import disk
from idlemail.backends.maildir import flags as F
from idlemail.backends.maildir.dotlock import DotLock, tryLocked
from idlemail.backends.maildir.index import CAUGHT_UP, WATCHED, Changes, Entry, Index, build, either
from idlemail.backends.maildir.lane import Lane, Later
from idlemail.backends.maildir.modseq import ModseqLock, ModseqLog, lettersOf
from idlemail.backends.maildir.pool import breathing
from idlemail.backends.maildir.safe import Owed
from idlemail.backends.maildir.uidlist import UidList
from idlemail.errors import IMAPError
from idlemail.records import applyFlags

log = Logger()
DELETED = "\\Deleted"
MODSEQ_WAIT = 0.005  # before trying again when another process holds the MODSEQ lock


@dataclass(slots=True)
class OnDisk:
    """The lane's view of one message file (lane jobs only)."""
    uid: int
    base: str
    subdir: str
    filename: str
    flags: frozenset
    modseq: int = 0
    logged: str | None = None  # the letters the MODSEQ file says it has since modseq

    @property
    def where(self) -> tuple:
        return (self.base, self.subdir, self.filename)

    @property
    def info(self) -> str:
        return F.split(self.filename)[1]


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
    stored: frozenset | None = None  # the flags as stored (the lane's reading)


@dataclass(slots=True)
class _Found:
    """What a scan found: how the files differ from the lane's model."""
    expunged: list  # UIDs
    moved: list  # (uid, subdir, name, flags)
    fresh: dict  # base -> (subdir, name) of files the model does not have
    unnumbered: list = field(default_factory=list)  # of fresh, those without a UID
    added: list = field(default_factory=list)  # Entry, ascending UID
    mtimes: dict = field(default_factory=dict)
    built: object = None  # a first scan: the whole index, made in the thread
    modseqs: dict = field(default_factory=dict)  # uid -> MODSEQ, of expunged and moved


class Folder(Index):
    """
    @param newValidity: allocates this folder's UIDVALIDITY when it has none yet.
    @ivar ownChanges: the watch's L{OwnChanges} (None when not watched by inotify):
        lane jobs announce there the events their renames and unlinks will cause.
    """

    def __init__(self, path: Path, pool, reactor, newValidity=None):
        super().__init__(path, pool)
        self.lane = Lane(pool, reactor, self._locked)
        self.ownChanges = None
        # The lane's model: lane jobs only.
        self.uidlist = UidList(path) if newValidity is None else UidList(path, newValidity)
        self.keywords = F.Keywords(path)
        self.modseqs = ModseqLog(path)
        self._modseqLock = ModseqLock(path)
        self._owed = Owed()  # the syncs owed by the group of jobs running (lane only)
        self._renumbered: list[tuple[int, int]] = []  # (uid, MODSEQ) given anew, untold
        self._files: dict[int, OnDisk] = {}
        self._fileOf: dict[str, int] = {}
        self._symlinks: set[str] = set()  # message files skipped, warned about once
        # Deliveries waiting for the next commit (any thread, under the guard).
        self._deliveries: list[Delivery] = []
        self._commitQueued = False
        self._deliveriesGuard = threading.Lock()
        # Bases and UIDs to look at in the next refresh, and who is to be told of what
        # it finds; who is to be told of the next rescan (any thread, under the guard;
        # None when no such job waits).
        self._bases: set[str] = set()
        self._uids: set[int] = set()
        self._refreshOrigin = self._rescanOrigin = None
        self._basesGuard = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.lane.busy

    def _logged(self, failure, doing: str) -> None:
        log.failure("{doing} {path} failed", failure, doing=doing, path=str(self.path))

    # --- the lane's side ------------------------------------------------------------------
    def _copies(self):
        """What the reactor keeps a copy of (lane side)."""
        renumbered, self._renumbered = self._renumbered, []
        return (tuple(self.keywords.known()), self.keywords.full(),
                self.uidlist.uidValidity, self.uidlist.uidNext, self.modseqs.highest,
                renumbered)

    # --- MODSEQs ---------------------------------------------------------------------------
    def _locked(self, works) -> list:
        """
        The lane's group (L{Lane}): C{works} one after another holding the MODSEQ lock,
        after reading the MODSEQ file's news (another process's changes); the records
        they made are durable, with one commit for all, when it returns their results.
        Each gets its own MODSEQ; one that fails has its records taken back and its
        L{Failure} as result, the others go on. A L{Later} if another process holds the
        lock; one that returns a L{Later} ends the group (its records wait, and are
        committed by the run that finishes).
        """
        if not self._modseqLock.acquire():
            return [Later(MODSEQ_WAIT)]
        results = []
        try:
            try:
                self._loadModseqsThread()
            except BaseException:
                self.modseqs.rollback()
                return [Failure()] * len(works)
            for work in works:
                mark = self.modseqs.mark()
                try:
                    result = work()
                except BaseException:
                    self.modseqs.undo(mark)
                    result = Failure()
                results.append(result)
                if isinstance(result, Later):
                    break
            try:
                self.modseqs.commit(self._files, self._owed)
                self._owed.sync()
            except BaseException:
                self.modseqs.rollback()
                self._owed.forget()
                failure = Failure()
                # Nothing of the group is durable: none of it may be told.
                return [failure if not isinstance(r, Later) else r for r in results]
            return results
        finally:
            self._modseqLock.release()

    def _loadModseqsThread(self) -> None:
        self.uidlist.load()  # whether the folder had messages: see modseq.py's recovery
        self.modseqs.load(self._files, self.uidlist.uidValidity, self.uidlist.uidNext > 1)
        self._renumberThread()

    def _renumberThread(self) -> None:
        mlog = self.modseqs
        if mlog.takeReseed() and self._files:
            # The records are gone: every message known gets a new MODSEQ, and is told.
            modseq = mlog.fresh()
            for f in self._files.values():
                self._logThread(f, modseq, lettersOf(f.filename))
                self._renumbered.append((f.uid, modseq))

    def _logThread(self, f: OnDisk, modseq: int, letters: str) -> None:
        f.modseq, f.logged = modseq, letters
        self.modseqs.record(f.uid, modseq, letters)

    def _reconcileThread(self, found: _Found, full: bool) -> None:
        """
        The MODSEQ of each change a scan found: the MODSEQ file's if it recorded the
        state found (another idlemail process made the change), else a new one (another
        program did, or this process before a crash).
        """
        mlog = self.modseqs
        mlog.checkValidity(self.uidlist.uidValidity)  # numbering may have made a new one
        self._renumberThread()
        for uid, subdir, name, newFlags in found.moved:
            f, letters = self._files[uid], lettersOf(name)
            if f.logged != letters:
                self._logThread(f, mlog.fresh(), letters)
            found.modseqs[uid] = f.modseq
        for e in found.added:
            letters = lettersOf(e.filename)
            record = mlog.pending.pop(e.uid, None)
            if record is not None and record[1] == letters:
                e.modseq = record[0]
            else:
                e.modseq = mlog.fresh()
                mlog.record(e.uid, e.modseq, letters)
        vanished = []
        for uid in found.expunged:
            modseq = mlog.gone.pop(uid, None)
            if modseq is None:
                vanished.append(uid)
                modseq = mlog.fresh()
            found.modseqs[uid] = modseq
        if full:
            # Recorded as here, but not on disk now: gone while nobody looked.
            here = set(self._files) | {e.uid for e in found.added}
            for uid in [u for u in mlog.pending if u not in here]:
                del mlog.pending[uid]
                vanished.append(uid)
        if vanished:
            mlog.expunge(vanished, mlog.fresh())

    def expungedSince(self, modseq: int) -> defer.Deferred:
        """The UIDs expunged with a MODSEQ above C{modseq}, or None if not known that far
        back (L{idlemail.interfaces.IModSeqMailbox.expungedSince})."""
        return self.lane.submit(lambda: self.modseqs.expunged.since(modseq), grouped=True)

    def _remember(self, f: OnDisk) -> None:
        self._files[f.uid] = f
        self._fileOf[f.base] = f.uid

    def _forgetFile(self, uid: int) -> OnDisk | None:
        f = self._files.pop(uid, None)
        if f is not None:
            del self._fileOf[f.base]
        return f

    # --- scanning -----------------------------------------------------------------------
    def scan(self, after=None, origin=CAUGHT_UP) -> defer.Deferred:
        """
        Compare the whole folder with the model (at open, for STATUS, and by the
        poller), numbering new files; fires once applied. C{after()} then runs on the
        reactor, before any later job is applied. C{origin}: who is told of what differs
        (L{idlemail.backends.maildir.index.Cause}, or None for a change of our own).
        """
        def apply(result):
            changes = self._applyFound(result, origin)
            if after is not None:
                after()
            return changes
        return self.lane.submit(self._scanJob(lambda: None), apply, grouped=True)

    def rescan(self, origin=WATCHED) -> None:
        """A full scan unless one is already waiting (the poller's tick, a resync)."""
        with self._basesGuard:
            queued, self._rescanOrigin = self._rescanOrigin, either(self._rescanOrigin, origin)
            if queued is not None:
                return
        taken = []

        def started():
            with self._basesGuard:
                taken.append(self._rescanOrigin)
                self._rescanOrigin = None
        self.lane.submit(self._scanJob(started),
                         lambda result: self._applyFound(result, taken[0]),
                         grouped=True).addErrback(
            self._logged, "Scanning")

    def refresh(self, bases=(), origin=WATCHED, uids=()) -> None:
        """Compare only these bases (from file events) and the files of these UIDs
        (another process named them) with the model, soon; those asked for until that
        job starts join it."""
        with self._basesGuard:
            self._bases.update(bases)
            self._uids.update(uids)
            queued, self._refreshOrigin = self._refreshOrigin, either(self._refreshOrigin, origin)
            if queued is not None:
                return
        taken = []

        def started():
            with self._basesGuard:
                bases, self._bases = self._bases, set()
                uids, self._uids = self._uids, set()
                taken.append(self._refreshOrigin)
                self._refreshOrigin = None
            if uids:
                bases |= self._basesOfThread(uids)
            return bases
        self.lane.submit(self._scanJob(started),
                         lambda result: self._applyFound(result, taken[0]),
                         grouped=True).addErrback(
            self._logged, "Reading changes of")

    def _basesOfThread(self, uids) -> set[str]:
        """The bases of these UIDs: from the model, or from the uidlist as another
        process left it (UIDs it gave since our last look)."""
        bases, unknown = set(), []
        for uid in uids:
            f = self._files.get(uid)
            if f is not None:
                bases.add(f.base)
            else:
                unknown.append(uid)
        if unknown:
            self.uidlist.load()
            bases.update(self.uidlist.basesOf(unknown).values())
        return bases

    def _scanJob(self, start):
        """A lane job comparing the disk with the model: all of it, or the bases that
        C{start()} gives (called once, in the lane, when the job starts)."""
        lock = DotLock(self.uidlist.path)
        scope: list = []

        def work():
            if not scope:
                scope.append(start())
            found = self._findThread(scope[0])
            # A folder deleted meanwhile (by another process) has nothing to number.
            if (found.unnumbered or self.uidlist.wantsRewrite()) and os.path.isdir(self.path):
                numbered = tryLocked(lock, self._numberThread, found)
                if isinstance(numbered, Later):
                    return numbered
            self._addedThread(found)
            self._reconcileThread(found, scope[0] is None)
            if not self._files:  # a first scan: the reactor takes the index as made
                found.built = build(found.added)
            for uid in found.expunged:
                self._forgetFile(uid)
            for uid, subdir, name, newFlags in found.moved:
                f = self._files[uid]
                f.subdir, f.filename, f.flags = subdir, name, newFlags
            for e in breathing(found.added):
                self._remember(OnDisk(e.uid, e.base, e.subdir, e.filename, e.flags,
                                      e.modseq, lettersOf(e.filename)))
            return found, self._copies()
        return work

    def _findThread(self, bases) -> _Found:
        self.keywords.load()
        self.uidlist.load()
        if bases is None:
            onDisk = disk.listing(self.path, self._symlinks)
            known = list(self._fileOf)
        else:
            onDisk = {}
            for base in bases:
                where = self._locateThread(base)
                if where is not None:
                    onDisk[base] = where
            known = [b for b in bases if b in self._fileOf]
        expunged = sorted(self._fileOf[b] for b in known if b not in onDisk)
        moved, fresh = [], {}
        for base, (subdir, name) in breathing(onDisk.items()):
            uid = self._fileOf.get(base)
            if uid is None:
                fresh[base] = (subdir, name)
                continue
            f = self._files[uid]
            if f.subdir != subdir or f.filename != name:
                moved.append((uid, subdir, name, self.keywords.toFlags(F.split(name)[1])))
        self.uidlist.forget(self._files[u].base for u in expunged)
        if bases is None:
            self.uidlist.forget(b for b in self.uidlist.byBase if b not in onDisk)
        found = _Found(expunged, moved, fresh)
        found.unnumbered = [b for b in fresh if b not in self.uidlist.byBase]
        return found

    def _locateThread(self, base: str):
        uid = self._fileOf.get(base)
        if uid is not None:
            f = self._files[uid]
            if os.path.lexists(self.path / f.subdir / f.filename):
                return (f.subdir, f.filename)
        where = disk.locate(self.path, base)
        if where is not None and os.path.islink(self.path / where[0] / where[1]):
            disk.skipSymlink(self.path, *where, self._symlinks)  # it could point anywhere
            return None
        return where

    def _numberThread(self, lock: DotLock, found: _Found) -> None:
        """Holding the lock: give the unnumbered files UIDs, in delivery order."""
        self.uidlist.load()  # another writer may have numbered some meanwhile
        for base in found.unnumbered:
            found.mtimes[base] = disk.mtimeOf(self.path, *found.fresh[base]) or 0.0
        order = sorted((b for b in found.unnumbered if b not in self.uidlist.byBase),
                       key=lambda b: (found.mtimes[b], b))
        self.uidlist.record(lock, self.uidlist.assign(order), self._presentThread, self._owed)

    def _presentThread(self) -> set[str]:
        # Two listings: a file being renamed may be missed by one readdir.
        return set(disk.listing(self.path, self._symlinks)) | \
            set(disk.listing(self.path, self._symlinks))

    def _addedThread(self, found: _Found) -> None:
        for base, (subdir, name) in breathing(found.fresh.items()):
            uid = self.uidlist.byBase.get(base)
            if uid is None or uid in self._files:
                continue  # not numbered (next time), or never one UID for two files
            found.added.append(Entry(uid, base, subdir, name,
                                     self.keywords.toFlags(F.split(name)[1]),
                                     disk.vsizeOf(base), found.mtimes.get(base)))
        found.added.sort(key=lambda e: e.uid)

    # --- delivering (APPEND, COPY, MOVE) --------------------------------------------------
    def deliver(self, deliveries: list[Delivery]) -> list[defer.Deferred]:
        """
        Add messages. Each is first written and fsynced in tmp/ by any disk thread,
        outside the lane (so the lane does not wait for it); then the lane renames
        every message ready by the time its commit starts and numbers them, with one
        uidlist write and one directory fsync for all (the thread that wrote them works
        the lane if it is idle: no hand-off). The messages of one call stay together,
        in order (a COPY's). Each Deferred fires with the message's UID (None if a
        copy's source is gone) once it is durable, after its L{Changes} were handed to
        C{onChanges}.
        """
        self.pool.callInThread(self._deliverThread, deliveries)
        return [delivery.done for delivery in deliveries]

    def _deliverThread(self, deliveries: list[Delivery]) -> None:
        try:
            self._prepareThread(deliveries)
            self._ready(deliveries)
        except BaseException:
            self.lane.reactor.callFromThread(self._unanswered, Failure(), deliveries)

    def _prepareThread(self, deliveries: list[Delivery]) -> None:
        """Any disk thread: each message in tmp/, fsynced (or hard-linked there)."""
        for delivery in deliveries:
            try:
                delivery.result = self._prepareOne(delivery)
            except OSError as e:
                delivery.result = e

    def _prepareOne(self, delivery: Delivery) -> disk.Prepared | None:
        if delivery.source is None:
            return disk.writeTmp(self.path, disk.crlf(delivery.data), delivery.stamp)
        linked = disk.linkTmp(self.path, delivery.source, *delivery.where)
        if linked is not None:
            return linked
        data = disk.readMessage(delivery.source, *delivery.where)
        if data is None:
            return None  # the source is gone: an expunge to come
        return disk.writeTmp(self.path, data,
                             disk.mtimeOf(delivery.source, *delivery.where[1:]))

    def _unanswered(self, failure, deliveries: list[Delivery]) -> None:
        """
        A bug, or a commit that could not be made durable (a sync failed): nothing of
        these deliveries was acknowledged. What was written is taken back, then every
        APPEND is answered with the failure.
        """
        self._logged(failure, "Delivering to")

        def answer(_):
            for delivery in deliveries:
                if not delivery.done.called:
                    delivery.done.errback(failure)
        taken = self.lane.submit(lambda: self._takeBackThread(deliveries))
        taken.addErrback(self._logged, "Cleaning up after a failed delivery to")
        taken.addCallback(answer)

    def _takeBackThread(self, batch: list[Delivery]) -> None:
        """The lane forgets these deliveries: files unlinked, their uidlist lines dead."""
        self._unlinkWrittenThread(batch)
        bases = [d.result.base for d in batch if isinstance(d.result, disk.Delivered)]
        for base in bases:
            uid = self._fileOf.get(base)
            if uid is not None:
                self._forgetFile(uid)
        self.uidlist.forget(bases)

    def _ready(self, deliveries: list[Delivery]) -> None:
        """In the disk thread that prepared them: to the next commit."""
        with self._deliveriesGuard:
            self._deliveries.extend(deliveries)
            start, self._commitQueued = not self._commitQueued, True
        if start:
            taken: list[list[Delivery]] = []
            done = defer.Deferred()
            done.addErrback(
                lambda failure: self._unanswered(failure, taken[0] if taken else []))
            self.lane.submit(self._commitJob(taken), self._applyDeliveries, grouped=True,
                             inline=True, done=done)

    def _commitJob(self, taken: list):
        """The lane job that takes the deliveries ready when it starts (into C{taken}),
        places them in new/ or cur/ and records their UIDs."""
        lock = DotLock(self.uidlist.path)

        def work():
            first = not taken
            if first:
                with self._deliveriesGuard:
                    batch, self._deliveries = self._deliveries, []
                    self._commitQueued = False
                taken.append(batch)
            batch = taken[0]
            try:
                if first:
                    self._placeThread(batch)
                uids = tryLocked(lock, self._recordThread, batch)
            except BaseException as e:
                # Nothing acknowledged: take back what was written; every APPEND is NO.
                self._unlinkWrittenThread(batch)
                return batch, e, None, 0
            if isinstance(uids, Later):
                return uids
            modseq = 0
            for d in batch:
                done = d.result
                if isinstance(done, disk.Delivered):
                    d.stored = self.keywords.toFlags(F.split(done.name)[1])
                    if uids[done.base] not in self._files:
                        f = OnDisk(uids[done.base], done.base, done.subdir, done.name,
                                   d.stored)
                        modseq = self.modseqs.fresh()
                        self._logThread(f, modseq, lettersOf(done.name))
                        self._remember(f)
            return batch, uids, self._copies(), modseq
        return work

    def _placeThread(self, batch: list[Delivery]) -> None:
        """In the lane: the flag letters of each message (new keywords are registered
        here), and its rename from tmp/ into new/ or cur/."""
        for delivery in batch:
            prepared = delivery.result
            if not isinstance(prepared, disk.Prepared):
                continue  # failed, or its source was gone
            try:
                info = self.keywords.toInfo(delivery.flags)
                delivery.result = disk.place(self.path, prepared, info, delivery.recent,
                                             self.ownChanges)
            except (IMAPError, OSError) as e:
                delivery.result = e
                disk.unlinkTmp(self.path, prepared)

    def _recordThread(self, lock: DotLock, batch: list[Delivery]) -> dict:
        """
        Holding the lock: number the batch, one uidlist write for all; its fdatasync and
        one fsync per directory are owed to the group's end (L{_locked}), where the
        first sync commits the renames, the lines and the MODSEQ records together. (Any
        order of them is safe, as nothing is acknowledged before all: a line whose file
        was lost is a dead line, a file whose line was lost is numbered again.)
        """
        self.uidlist.load()
        written = [d.result for d in batch if isinstance(d.result, disk.Delivered)]
        assigned = self.uidlist.assign([d.base for d in written])
        self.uidlist.record(lock, assigned, self._presentThread, self._owed)
        for subdir in sorted({d.subdir for d in written}):
            self._owed.directory(self.path / subdir)
        return {d.base: self.uidlist.byBase[d.base] for d in written}

    def _unlinkWrittenThread(self, batch: list[Delivery]) -> None:
        written = [d.result for d in batch if isinstance(d.result, disk.Delivered)]
        try:
            disk.unlinkDelivered(self.path, written)
            for d in batch:
                if isinstance(d.result, disk.Prepared):
                    disk.unlinkTmp(self.path, d.result)
        except OSError:
            log.failure("Cleaning up after a failed delivery to {path} failed",
                        path=str(self.path))

    def _applyDeliveries(self, result) -> None:
        batch, uids, copies, modseq = result
        if copies is None:  # failed: uids is the exception
            for delivery in batch:
                delivery.done.errback(uids)
            return
        changes = Changes()
        self._takeCopies(copies, changes)
        for delivery in batch:
            done = delivery.result
            if isinstance(done, disk.Delivered):
                uid = uids[done.base]
                if uid not in self.byUid and done.base not in self.byBase:
                    self._insert(Entry(uid, done.base, done.subdir, done.name,
                                       delivery.stored, done.size, done.mtime, modseq))
                    changes.added.append(uid)
                    changes.modseqs[uid] = modseq
        changes.added.sort()
        self._publish(changes)
        for delivery in batch:
            done = delivery.result
            if isinstance(done, BaseException):
                delivery.done.errback(done)
            else:
                delivery.done.callback(None if done is None else uids[done.base])

    # --- flags, expunges, claims ----------------------------------------------------------
    def store(self, uids, flags, mode: str, origin=None,
              unchangedSince: int | None = None) -> defer.Deferred:
        """
        Rename files to carry the new flags; fires with C{(stored, modified)}: a dict
        uid -> flags of those that exist, and the UIDs left alone because their MODSEQ is
        above C{unchangedSince} (RFC 7162 3.1.3; checked in the lane, at the change).
        """
        uids = list(uids)
        return self.lane.submit(
            lambda: self._storeThread(uids, flags, mode, unchangedSince),
            lambda result: self._applyStore(result, origin), grouped=True)

    def _storeThread(self, uids, flags, mode, unchangedSince):
        wanted = self.keywords.canonical(flags)
        plans, modified = [], []
        for uid in uids:  # every letter first: a refusal (LIMIT) renames nothing
            f = self._files.get(uid)
            if f is None:
                continue
            if unchangedSince is not None and f.modseq > unchangedSince:
                modified.append(uid)
                continue
            info = self.keywords.toInfo(applyFlags(f.flags, wanted, mode), keep=f.info)
            plans.append((f, info))
        out = []
        for f, info in plans:
            name = f.base + F.INFO + info
            if f.subdir != "cur" or f.filename != name:
                where = disk.renameMessage(self.path, *f.where, "cur", name, self.ownChanges)
                if where is None:
                    continue  # gone: an expunge to come
                f.subdir, f.filename, f.flags = *where, self.keywords.toFlags(info)
                letters = lettersOf(f.filename)
                if letters != f.logged:
                    self._logThread(f, self.modseqs.fresh(), letters)
            out.append((f.uid, f.subdir, f.filename, f.flags, f.modseq))
        return out, modified, self._copies()

    def _applyStore(self, result, origin) -> tuple[dict, list]:
        renamed, modified, copies = result
        stored, changes = {}, Changes()
        self._takeCopies(copies, changes)
        for uid, subdir, name, newFlags, modseq in renamed:
            e = self.byUid.get(uid)
            if e is None:
                continue
            e.modseq = modseq
            if self._move(e, subdir, name, newFlags):
                changes.flags.append((uid, newFlags))
                changes.modseqs[uid] = modseq
            stored[uid] = newFlags
        self._publish(changes, origin)
        return stored, modified

    def remove(self, uids=None, onlyDeleted: bool = True, origin=None) -> defer.Deferred:
        """Unlink messages (those flagged \\Deleted, among C{uids} if given); the UIDs
        removed, ascending."""
        uids = None if uids is None else sorted(uids)
        return self.lane.submit(
            lambda: self._removeThread(uids, onlyDeleted),
            lambda result: self._applyRemove(result, origin), grouped=True)

    def _removeThread(self, uids, onlyDeleted: bool):
        candidates = sorted(self._files) if uids is None else uids
        doomed = [f for u in candidates if (f := self._files.get(u)) is not None
                  and (DELETED in f.flags or not onlyDeleted)]
        for f in doomed:
            disk.unlinkMessage(self.path, *f.where, self.ownChanges)
            self._forgetFile(f.uid)
        self.uidlist.forget(f.base for f in doomed)
        gone = [f.uid for f in doomed]
        modseq = self.modseqs.fresh() if gone else 0
        self.modseqs.expunge(gone, modseq)
        return gone, modseq, self._copies()

    def _applyRemove(self, result, origin) -> list[int]:
        gone, modseq, copies = result
        changes = Changes()
        self._takeCopies(copies, changes)
        changes.expunged = [uid for uid in gone if self._drop(uid) is not None]
        changes.modseqs.update(dict.fromkeys(changes.expunged, modseq))
        self._publish(changes, origin)
        return changes.expunged

    def claim(self, uids) -> None:
        """Messages a session has seen as \\Recent leave new/ for cur/, as Dovecot
        does, so that no other program counts them as recent again."""
        if not any((e := self.byUid.get(u)) is not None and e.subdir == "new" for u in uids):
            return  # delivered to cur/ already (a writer had the folder selected)
        uids = list(uids)
        self.lane.submit(lambda: self._claimThread(uids), self._applyClaim).addErrback(
            self._logged, "Moving recent messages of")

    def _claimThread(self, uids):
        out = []
        for uid in uids:
            f = self._files.get(uid)
            if f is None or f.subdir != "new":
                continue
            where = disk.claimMessage(self.path, f.base, f.filename, self.ownChanges)
            if where is not None:
                f.subdir, f.filename = where
                out.append((uid, *where))
        return out

    def _applyClaim(self, moved) -> None:
        for uid, subdir, name in moved:
            e = self.byUid.get(uid)
            if e is not None:
                self._move(e, subdir, name, e.flags)
