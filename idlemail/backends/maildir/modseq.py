"""
A Maildir folder's MODSEQs (RFC 7162): idlemail's own file C{idlemail-modseq} next to
C{dovecot-uidlist} (Dovecot keeps its MODSEQs in its index, which we do not write).

    M1 V1700000000 F0 H57
    S 41 FS 1:3,7
    S 42 . 4
    X 43 5:6

The header: format version, the UIDVALIDITY the UIDs belong to, the floor (expunges with a
MODSEQ at or below it are forgotten) and the highest MODSEQ when the file was written
whole. Then one record per line, appended: C{S m letters uids}, these messages have had
these flag letters (the Maildir info after C{:2,}, sorted; C{.} for none) since MODSEQ m;
C{X m uids}, these were expunged with MODSEQ m. The last record of a UID is its state.
The HIGHESTMODSEQ is the greatest m in the file (at least H, at least 1).

Written as the uidlist is (L{idlemail.backends.maildir.uidlist}): only by the folder's
lane jobs, appended and fdatasync'ed before the change is applied on the reactor (so no
MODSEQ is told to a client before it is durable), under C{idlemail-modseq.lock} (flock,
never waited for: a job that cannot take it now runs again a moment later) so that the
processes sharing a Maildir give one sequence; rewritten whole (temporary file, fsync,
rename) when it is mostly superseded lines, when it was damaged, or to create it.

Every change gets its MODSEQ here, whoever made it: a job compares the files on disk with
the file's last record of each UID. Letters that differ (a flag rename by another program,
a message dropped in by an MDA, one that vanished) get a new MODSEQ; letters that agree
keep the record's (another idlemail process logged that change). So after a crash, what
reached the disk but not the file is simply a change found, with a new MODSEQ.

Recovery, so that no MODSEQ is ever given twice or goes backwards:

- The file is missing while the folder already had messages (UIDNEXT above 1), or its
  header is unreadable, or a record in the middle is damaged: it is rebuilt from the
  files on disk with every message at one new MODSEQ seeded from the clock (microseconds
  since 1970; every MODSEQ given before was below the clock at the time, as they count up
  by one from small numbers or from an earlier such seed, far slower than a million a
  second), at least above anything still readable. The floor is that seed: QRESYNC then
  answers conservatively for anything older.
- A torn last line (a crash mid-append, never acknowledged) is ignored.
- A new UIDVALIDITY (the uidlist was rebuilt) makes the old records meaningless: they are
  dropped, and the MODSEQs go on above the highest.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from twisted.logger import Logger

from idlemail.backends.maildir import flags as F
from idlemail.backends.maildir.pool import breathing
from idlemail.backends.maildir.safe import appendSynced, fsyncDir, writeAll
from idlemail.backends.vanished import DEFAULT_LIMIT, ExpungedUids
from idlemail.bus.changes import parseUidSet, uidSet

log = Logger()
FILENAME = "idlemail-modseq"
LOCKNAME = "idlemail-modseq.lock"
VERSION = "M1"
#: Rewrite the file when it has this many lines more than twice the live messages.
SLACK_LINES = 4096


def lettersOf(filename: str) -> str:
    """The flag letters of a message file's name, sorted (C{""} for none)."""
    info = F.split(filename)[1]
    return "".join(sorted(set(info))) if info else ""


def clockSeed() -> int:
    return int(time.time() * 1_000_000)


class ModseqLock:
    """The file's lock: an flock of C{idlemail-modseq.lock}, tried once, never waited for."""

    def __init__(self, folderPath: Path):
        self.path = folderPath / LOCKNAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        except FileNotFoundError:
            return True  # the folder is gone (another process deleted it): nothing to guard
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock


class ModseqLog:
    """
    The lane's model of C{idlemail-modseq} (lane jobs only, under L{ModseqLock}).

    The MODSEQ of a message the lane knows is on its L{OnDisk} record (C{modseq}, and
    C{logged}: the letters the file says it had then); records about UIDs the lane does
    not know yet wait in C{pending} (S) and C{gone} (X of UIDs it still has).

    @ivar highest: the HIGHESTMODSEQ (0 until the file was first read).
    @ivar expunged: the expunged UIDs with their MODSEQs, bounded (L{ExpungedUids}).
    """

    def __init__(self, folderPath: Path, expungedLimit: int = DEFAULT_LIMIT):
        self.path = folderPath / FILENAME
        self.uidValidity = 0
        self.highest = 0
        self.expunged = ExpungedUids(expungedLimit)
        self.pending: dict[int, tuple[int, str]] = {}
        self.gone: dict[int, int] = {}
        self.lines = 0
        self.repaired = False  # write the file whole at the next commit
        self._identity = None
        self._offset = 0
        self._new: dict[tuple[int, str], list[int]] = {}  # this job's S records
        self._newGone: dict[int, list[int]] = {}  # this job's X records
        self._fresh = 0  # this job's new MODSEQ, once asked for
        self._forgetAll = False

    @property
    def started(self) -> bool:
        return self.highest > 0

    # --- reading --------------------------------------------------------------------------
    def load(self, files: dict, uidValidity: int, hadMessages: bool) -> None:
        """Read what was appended since the last look (by other processes too) and apply
        it to C{files} (uid -> L{OnDisk}). C{uidValidity}: the uidlist's, 0 if none yet."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            if not self.started:
                self._lost(hadMessages, "missing")
            elif self._identity is not None:
                self.repaired = True  # deleted under us: written whole again
            self._identity = None
            self.checkValidity(uidValidity)
            return
        identity = (st.st_dev, st.st_ino)
        if identity != self._identity or st.st_size < self._offset:
            self._readWhole(files, hadMessages)
        elif st.st_size > self._offset:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            self._parse(data, self._offset, files)
        self._identity = identity
        self.checkValidity(uidValidity)

    def _readWhole(self, files: dict, hadMessages: bool) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            self._lost(hadMessages, "unreadable")
            return
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        end = data.find(b"\n")
        header = data[:end].decode("ascii", "replace").split() if end >= 0 else []
        fields = {w[0]: w[1:] for w in header[1:] if len(w) > 1 and w[1:].isdigit()}
        if not header or header[0] != VERSION or not {"V", "F", "H"} <= set(fields):
            self._lost(hadMessages, "damaged header")
            return
        self.pending, self.gone, self.lines = {}, {}, 0
        self.expunged = ExpungedUids(self.expunged.limit, int(fields["F"]))
        self.uidValidity = int(fields["V"])
        self.highest = max(self.highest, int(fields["H"]), 1)
        self._parse(data[end + 1:], end + 1, files)

    def _parse(self, data: bytes, start: int, files: dict) -> None:
        """Records from file offset C{start}; a last line without its newline is left
        (a torn append, or one being written)."""
        last = data.rfind(b"\n")
        complete = data[:last + 1] if last >= 0 else b""
        lines = complete.decode("ascii", "replace").split("\n")[:-1]
        for n, line in enumerate(breathing(lines)):
            try:
                self._apply(line.split(" "), files)
            except (ValueError, IndexError, KeyError):
                log.warn("{path}: damaged record {line!r}; MODSEQs start again from the "
                         "clock", path=str(self.path), line=line[:60])
                self._reseed(clockSeed())
                break
            self.lines += 1
        self._offset = start + len(complete)

    def _apply(self, words: list[str], files: dict) -> None:
        kind, modseq = words[0], int(words[1])
        if kind == "S" and len(words) == 4:
            letters = "" if words[2] == "." else words[2]
            for uid in parseUidSet(words[3]):
                f = files.get(uid)
                if f is None:
                    self.pending[uid] = (modseq, letters)
                elif modseq >= f.modseq:
                    f.modseq, f.logged = modseq, letters
        elif kind == "X" and len(words) == 3:
            uids = parseUidSet(words[2])
            for uid in uids:
                self.pending.pop(uid, None)
                if uid in files:
                    self.gone[uid] = modseq
            self.expunged.add(uids, modseq)
        else:
            raise ValueError(kind)
        self.highest = max(self.highest, modseq)

    def _lost(self, hadMessages: bool, why: str) -> None:
        if hadMessages:
            seed = max(clockSeed(), self.highest + 1)
            log.warn("{path}: {why}; MODSEQs start again at {seed} (from the clock), every "
                     "message gets it", path=str(self.path), why=why, seed=seed)
            self._reseed(seed)
        else:
            self.highest = max(self.highest, 1)
        self.repaired = True

    def _reseed(self, seed: int) -> None:
        """Forget the records: every message is as if changed at C{seed}."""
        self.highest = max(seed, self.highest)
        self.pending, self.gone, self.lines = {}, {}, 0
        self.expunged = ExpungedUids(self.expunged.limit, self.highest)
        self.repaired = self._forgetAll = True

    def checkValidity(self, uidValidity: int) -> None:
        if uidValidity and self.uidValidity != uidValidity:
            if self.uidValidity:  # the UIDs are other messages now
                log.warn("{path}: for UIDVALIDITY {old}, the folder's is {new}; its "
                         "records are dropped", path=str(self.path), old=self.uidValidity,
                         new=uidValidity)
                self._reseed(self.highest + 1)
            self.uidValidity = uidValidity
            self.repaired = True

    def takeReseed(self) -> bool:
        """True once after the records were forgotten: every message then needs a new
        MODSEQ (what the lane believed logged is not)."""
        reseeded, self._forgetAll = self._forgetAll, False
        return reseeded

    # --- changing (in a job, under the lock; committed at its end) -------------------------
    def fresh(self) -> int:
        """The MODSEQ of this job's changes: one per job, above every one given."""
        if not self._fresh:
            self.highest += 1
            self._fresh = self.highest
        return self._fresh

    def record(self, uid: int, modseq: int, letters: str) -> None:
        """Message C{uid} has these letters since C{modseq} (the caller sets its
        L{OnDisk}'s C{modseq} and C{logged})."""
        self._new.setdefault((modseq, letters), []).append(uid)

    def expunge(self, uids, modseq: int) -> None:
        uids = sorted(uids)
        if uids:
            self.expunged.add(uids, modseq)
            self._newGone.setdefault(modseq, []).extend(uids)

    def commit(self, files: dict, owed=None) -> None:
        """Make this job's records durable: appended, or the file written whole (nothing,
        if the folder was deleted meanwhile). An append's fdatasync is left to C{owed}
        (L{idlemail.backends.maildir.safe.Owed}) if given."""
        try:
            self._commit(files, owed)
        except FileNotFoundError:
            if self.path.parent.is_dir():
                raise
        finally:
            self._new, self._newGone, self._fresh = {}, {}, 0

    def _commit(self, files: dict, owed) -> None:
        if not (self._new or self._newGone or self.repaired):
            return
        if not (self._new or self._newGone or files or self.pending or len(self.expunged)):
            return  # nothing to keep: an empty folder starts at 1 again
        if self.repaired or self._identity is None or (
                self.lines > SLACK_LINES + 2 * (len(files) + len(self.pending))):
            self._rewrite(files)
            return
        text = self._records(self._new, self._newGone)
        data = text.encode("ascii")
        st = appendSynced(self.path, data, owed)
        self.lines += text.count("\n")
        if (st.st_dev, st.st_ino) == self._identity and \
                st.st_size == self._offset + len(data):
            self._offset = st.st_size
        else:  # someone wrote without the lock: read it all next time
            self._identity = None

    def rollback(self) -> None:
        """The job failed before its commit: nothing of it is recorded."""
        self._new, self._newGone, self._fresh = {}, {}, 0

    # --- a group of jobs, committed once (L{idlemail.backends.maildir.lane}) --------------
    def mark(self) -> tuple:
        """Where the next job of a group starts: L{undo} takes back its records alone."""
        self._fresh = 0  # each job of a group gets its own MODSEQ
        return ({key: len(uids) for key, uids in self._new.items()},
                {key: len(uids) for key, uids in self._newGone.items()})

    def undo(self, mark: tuple) -> None:
        """The job started at C{mark} failed: its records go, the group's others stay."""
        for records, lengths in zip((self._new, self._newGone), mark):
            for key in list(records):
                if key in lengths:
                    del records[key][lengths[key]:]
                else:
                    del records[key]
        self._fresh = 0

    @staticmethod
    def _records(states: dict, gone: dict) -> str:
        lines = [f"X {m} {uidSet(sorted(uids))}\n" for m, uids in sorted(gone.items())]
        lines += [f"S {m} {letters or '.'} {uidSet(sorted(uids))}\n"
                  for (m, letters), uids in sorted(states.items())]
        return "".join(lines)

    def _rewrite(self, files: dict) -> None:
        states: dict[tuple[int, str], list[int]] = {}
        for f in breathing(files.values()):
            if f.logged is not None:
                states.setdefault((f.modseq, f.logged), []).append(f.uid)
        for uid, (m, letters) in self.pending.items():
            states.setdefault((m, letters), []).append(uid)
        gone = {m: list(uids) for m, uids in self.expunged.records()}
        head = (f"{VERSION} V{self.uidValidity} F{self.expunged.floor} "
                f"H{self.highest}\n")
        body = self._records(states, gone)
        data = (head + body).encode("ascii")
        tmp = self.path.with_name(f".{FILENAME}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            writeAll(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.path)
        fsyncDir(self.path.parent)
        st = os.lstat(self.path)
        self._identity, self._offset = (st.st_dev, st.st_ino), len(data)
        self.lines, self.repaired = body.count("\n"), False
