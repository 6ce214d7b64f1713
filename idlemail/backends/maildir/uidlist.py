"""
Dovecot's C{dovecot-uidlist}, version 3: which UID each message file has.

    3 V1700000000 N42 G3085f01b7f11094c501100008c4a11c1
    1 :1700000000.M1P1.host
    2 W1234 :1700000001.M2P1.host,S=1200

Read what Dovecot wrote, write what Dovecot reads, as Dovecot's C{maildir-uidlist.c}
does it:

- New UIDs are I{appended} as lines (under C{dovecot-uidlist.lock}, fdatasync'ed); the
  header's C{N} is then stale, and the next UID is the greater of C{N} and the highest
  listed UID + 1.
- A reader that saw the file before reads only what was appended since (same inode,
  larger size); a renamed-over file is read whole.
- The file is rewritten (compacted) only when its lines are mostly dead: when the live
  records are at most 75 % of the lines (Dovecot's UIDLIST_COMPRESS_PERCENTAGE), when
  it is damaged, or when a writer died mid-line. The new content goes into the lock
  file, which is renamed over the list, so a reader never sees half a file.
- A file that cannot be parsed is rebuilt from the messages, keeping UIDVALIDITY when
  its header is readable, with a logged warning.

Part of one folder's lane model (L{idlemail.backends.maildir.store}): only the lane's
jobs (one at a time, in a disk thread) call these methods.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path
from typing import Callable

from twisted.logger import Logger

from idlemail.backends.maildir.dotlock import DotLock
from idlemail.backends.maildir.pool import breathing
from idlemail.backends.maildir.safe import appendSynced, readNoFollow

log = Logger()
_HEADER_MAX = 512  # a header line is far shorter: "3 V<n> N<n> G<guid>"
COMPRESS_PERCENTAGE = 75


def _clockValidity(atLeast: int = 1) -> int:
    return max(int(time.time()), atLeast)


class UidList:
    """
    @param newValidity: gives a new UIDVALIDITY, at least its argument, never one
        given before (L{idlemail.backends.maildir.validity.nextUidValidity}).
    @ivar lines: the record lines in the file, live or not.
    @ivar dead: bases listed in the file whose messages are gone (compaction drops them).
    """

    def __init__(self, folderPath: Path, newValidity: Callable[[int], int] = _clockValidity):
        self.newValidity = newValidity
        self.path = folderPath / "dovecot-uidlist"
        self.lockPath = folderPath / "dovecot-uidlist.lock"
        self.uidValidity = 0
        self.uidNext = 1
        self.guid = uuid.uuid4().hex
        self.byBase: dict[str, int] = {}
        self.extra: dict[int, str] = {}  # extension fields of a line, kept as written
        self.lines = 0
        self.dead: set[str] = set()
        self.repaired = False  # damaged: rewrite at the next chance
        self._identity = None  # (dev, ino) of the file last read
        self._offset = 0  # octets read, up to the end of the last complete line
        self._highest = 0  # the highest UID listed
        self._partial = False  # the file ends in an unfinished line

    @property
    def exists(self) -> bool:
        return self._identity is not None

    # --- reading ------------------------------------------------------------------------
    def load(self) -> bool:
        """Read what changed since the last look; False if there is no file."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            self._identity = None
            return False
        identity = (st.st_dev, st.st_ino)
        if identity == self._identity and st.st_size == self._offset and not self._partial:
            return True
        if not stat.S_ISREG(st.st_mode):
            if identity != self._identity:
                log.warn("{path}: not a regular file (a symlink?); rebuilding it from "
                         "the message files", path=str(self.path))
                self._restart(st, identity)
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            self._identity = None
            return False
        try:
            same = identity == self._identity and st.st_size >= self._offset
            start = self._offset if same else 0
            os.lseek(fd, start, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if not same:
            self.byBase, self.extra, self.lines, self._highest = {}, {}, 0, 0
            self.dead = set()
        try:
            if same:
                self._parseRecords(data, start)
            else:
                self._parseWhole(data, st)
        except ValueError as e:
            log.warn("{path}: unreadable ({error}); rebuilding it from the message files",
                     path=str(self.path), error=e)
            # What follows the damage is skipped; the next writer rewrites the file.
            self.repaired, self._partial, self._offset = True, False, start + len(data)
        self._identity = identity
        return True

    def _restart(self, st, identity) -> None:
        self._newValidityAfter(st.st_mtime)
        self.byBase, self.extra, self.lines, self._highest = {}, {}, 0, 0
        self.uidNext, self.repaired, self._identity, self._offset = 1, True, identity, 0

    def _newValidityAfter(self, mtime: float) -> None:
        # Without a trustworthy header the old UIDs cannot be kept: a new UIDVALIDITY
        # tells every client to forget them (RFC 3501 2.3.1.1). The old one was given
        # no later than the file's last write.
        self.uidValidity = self.newValidity(max(int(mtime) + 1, self.uidValidity + 1))

    def _parseWhole(self, data: bytes, st) -> None:
        end = data.find(b"\n")
        head = (data if end < 0 else data[:end]).decode("utf-8", "replace")
        header = head.split()
        validity, nextUid = _field(header, "V"), _field(header, "N")
        if not header or header[0] != "3" or not validity or not nextUid:
            self._newValidityAfter(st.st_mtime)
            self.uidNext = 1
            raise ValueError(f"unsupported or damaged header {head[:60]!r}")
        self.uidValidity = validity
        self.guid = next((w[1:] for w in header if w.startswith("G")), self.guid)
        self.uidNext = nextUid
        self._offset = end + 1 if end >= 0 else 0
        if end < 0:
            self._partial = True
            return
        self._parseRecords(data[end + 1:], end + 1)

    def _parseRecords(self, data: bytes, start: int) -> None:
        """Records after the header, from file offset C{start}; an unfinished last line
        is left for the next read (its writer may be at work)."""
        last = data.rfind(b"\n")
        complete = data[:last + 1] if last >= 0 else b""
        self._partial = len(complete) < len(data)
        byBase, extra, highest, problem = self.byBase, self.extra, self._highest, None
        lines = 0
        for line in breathing(complete.decode("utf-8", "replace").split("\n")):
            if not line:
                continue
            head, sep, base = line.partition(" :")  # <uid> [<key><value> ...] :<base>
            if head.isdigit():  # the usual line: no extension fields
                uid, fields = int(head), ()
            else:
                fields = head.split()
                uid = int(fields[0]) if fields and fields[0].isdigit() else 0
            if not sep or not base or uid <= highest:
                problem = f"record {self.lines + lines + 1} is malformed"
                break
            highest = uid
            byBase[base] = uid
            if len(fields) > 1:
                extra[uid] = " ".join(fields[1:])
            lines += 1
        self.lines += lines
        self._offset = start + len(complete)
        self._highest = highest
        # Dovecot's rule: N of the header may be stale after appends.
        self.uidNext = max(self.uidNext, highest + 1)
        if problem:
            raise ValueError(problem)

    def basesOf(self, uids) -> dict[int, str]:
        """uid -> base of those of C{uids} the list has. Records are kept in the order
        read, which is ascending UID, so the newest (what another process just added)
        are found from the end without a pass over a large list; a pass is the fallback."""
        wanted = set(uids)
        found: dict[int, str] = {}
        if not wanted:
            return found
        lowest = min(wanted)
        for base, uid in reversed(self.byBase.items()):
            if uid < lowest:
                break
            if uid in wanted:
                found[uid] = base
        if len(found) < len(wanted):
            found.update((uid, base) for base, uid in self.byBase.items() if uid in wanted)
        return found

    # --- writing (the caller holds the lock: see L{DotLock}) ----------------------------
    def assign(self, bases) -> list[tuple[str, int]]:
        """Give each unknown base the next UID, in the order given."""
        out = []
        for base in bases:
            if base not in self.byBase:
                self.byBase[base] = self.uidNext
                out.append((base, self.uidNext))
                self.uidNext += 1
        return out

    def forget(self, bases) -> None:
        """These messages are gone; their lines go at the next compaction."""
        self.dead.update(b for b in bases if b in self.byBase)

    def wantsRewrite(self) -> bool:
        if self.repaired or self._partial or not self.exists:
            return True
        live = len(self.byBase) - len(self.dead)
        return live * 100 <= self.lines * COMPRESS_PERCENTAGE and self.lines > 0 \
            and bool(self.dead)

    def record(self, lock: DotLock, assigned, present=None, owed=None) -> None:
        """
        Make the UIDs just assigned durable: append their lines, or rewrite the whole
        list when L{wantsRewrite}. For a rewrite, C{present()} gives the bases now on
        disk: a base believed dead but still there (a rename caught mid-way) keeps
        its line. An append's fdatasync is left to C{owed} (L{Owed}) if given.
        """
        if self.wantsRewrite():
            self._rewrite(lock, present)
            return
        if not assigned:
            return
        data = "".join(self._line(base, uid) for base, uid in assigned).encode("utf-8")
        st = appendSynced(self.path, data, owed)
        self.lines += len(assigned)
        self._highest = max(self._highest, assigned[-1][1])
        if (st.st_dev, st.st_ino) == self._identity and st.st_size == self._offset + len(data):
            self._offset = st.st_size
        else:  # someone else wrote too (without the lock?): read it all next time
            self._identity = None

    def _line(self, base: str, uid: int) -> str:
        ext = self.extra.get(uid)
        return f"{uid} {ext} :{base}\n" if ext else f"{uid} :{base}\n"

    def _rewrite(self, lock: DotLock, present) -> None:
        if self.dead and present is not None:
            onDisk = present()
            gone = {b for b in self.dead if b not in onDisk}
            for base in gone:
                uid = self.byBase.pop(base)
                self.extra.pop(uid, None)
            self.dead = set()
        if not self.uidValidity:
            self.uidValidity = self.newValidity(1)
        lines = [f"3 V{self.uidValidity} N{self.uidNext} G{self.guid}\n"]
        for base, uid in sorted(self.byBase.items(), key=lambda item: item[1]):
            lines.append(self._line(base, uid))
        data = "".join(lines).encode("utf-8")
        lock.replace(data)
        st = os.lstat(self.path)
        self._identity, self._offset = (st.st_dev, st.st_ino), len(data)
        self.lines, self.repaired, self._partial = len(lines) - 1, False, False


def validityOf(folderPath: Path) -> int | None:
    """In a disk thread: the UIDVALIDITY the folder's dovecot-uidlist header says (its
    first line alone is read), or None if it has none, or none we can read."""
    try:
        data = readNoFollow(folderPath / "dovecot-uidlist", limit=_HEADER_MAX)
    except OSError:
        return None
    header = (data or b"").split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not header or header[0] != "3":
        return None
    return _field(header, "V")


def _field(words, letter: str) -> int | None:
    for w in words[1:]:
        if w.startswith(letter) and w[1:].isdigit():
            return int(w[1:])
    return None
