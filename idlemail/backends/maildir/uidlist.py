"""
Dovecot's C{dovecot-uidlist}, version 3: which UID each message file has.

    3 V1700000000 N42 G3085f01b7f11094c501100008c4a11c1
    1 :1700000000.M1P1.host
    2 W1234 :1700000001.M2P1.host,S=1200

Read what Dovecot wrote, write what Dovecot reads. Writes go to C{dovecot-uidlist.lock}
(created exclusively, which is Dovecot's lock) and are renamed over the list, so a reader
never sees half a file. A file that cannot be parsed is rebuilt from the messages, keeping
UIDVALIDITY when its header is readable, with a logged warning.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Callable

from twisted.logger import Logger

from idlemail.backends.maildir.safe import readNoFollow

log = Logger()
LOCK_STALE = 120.0  # seconds after which a lock left by a dead writer is taken over
LOCK_WAIT = 10.0


class UidListLockTimeout(Exception):
    pass


def _clockValidity(atLeast: int = 1) -> int:
    return max(int(time.time()), atLeast)


class UidList:
    """
    @param newValidity: gives a new UIDVALIDITY, at least its argument, never one
        given before (L{idlemail.backends.maildir.validity.nextUidValidity}).
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
        self._stamp = None
        self._mtime = 0.0
        self.repaired = False

    def load(self) -> bool:
        """Re-read the file if it changed; False if there is none."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return True
        self._mtime = st.st_mtime
        try:
            data = readNoFollow(self.path)
            if data is None:
                data = b"(a symlink or not a regular file)"
            self._parse(data.decode("utf-8", "replace"))
        except FileNotFoundError:
            return False
        except ValueError as e:
            log.warn("{path}: unreadable ({error}); rebuilding it from the message files",
                     path=str(self.path), error=e)
            self.repaired = True
        self._stamp = stamp
        return True

    def _parse(self, text: str) -> None:
        lines = text.split("\n")
        header = lines[0].split()
        validity, nextUid = _field(header, "V"), _field(header, "N")
        if not header or header[0] != "3" or not validity or not nextUid:
            # Without a trustworthy header the old UIDs cannot be kept: a new UIDVALIDITY
            # tells every client to forget them (RFC 3501 2.3.1.1).
            # The old UIDVALIDITY was set no later than the file's last write.
            self.uidValidity = self.newValidity(max(int(self._mtime) + 1,
                                                    self.uidValidity + 1))
            self.uidNext, self.byBase, self.extra = 1, {}, {}
            raise ValueError(f"unsupported or damaged header {lines[0][:60]!r}")
        self.uidValidity = validity
        self.guid = next((w[1:] for w in header if w.startswith("G")), self.guid)
        byBase, extra, highest, problem = {}, {}, 0, None
        complete = text.endswith("\n")
        for number, line in enumerate(lines[1:], 2):
            if not line:
                continue
            head, sep, base = line.partition(":")
            parts = head.split()
            if not sep or not base or not parts or not parts[0].isdigit() \
                    or int(parts[0]) <= highest:
                if number == len(lines) and not complete:
                    break  # a half-written last line: the writer died mid-line
                problem = f"line {number} is malformed"
                break
            uid = int(parts[0])
            highest = uid
            byBase[base] = uid
            if len(parts) > 1:
                extra[uid] = " ".join(parts[1:])
        # The lines before any damage are kept; files not listed get UIDs above them all.
        self.uidNext = max(nextUid, highest + 1)
        self.byBase, self.extra = byBase, extra
        if problem:
            raise ValueError(problem)

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
        for base in bases:
            uid = self.byBase.pop(base, None)
            if uid is not None:
                self.extra.pop(uid, None)

    def save(self) -> None:
        """Write the whole list through the lock file; the caller holds the lock."""
        if not self.uidValidity:
            self.uidValidity = self.newValidity(1)
        lines = [f"3 V{self.uidValidity} N{self.uidNext} G{self.guid}"]
        for base, uid in sorted(self.byBase.items(), key=lambda item: item[1]):
            ext = self.extra.get(uid)
            lines.append(f"{uid} {ext} :{base}" if ext else f"{uid} :{base}")
        data = ("\n".join(lines) + "\n").encode("utf-8")
        fd = os.open(self.lockPath, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.lockPath, self.path)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)

    def lock(self) -> None:
        """Take C{dovecot-uidlist.lock} (O_EXCL), waiting briefly for another writer."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fd = os.open(self.lockPath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
                return
            except FileExistsError:
                try:
                    age = time.time() - self.lockPath.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > LOCK_STALE:
                    log.warn("{path}: taking over a stale lock ({age:.0f} s old)",
                             path=str(self.lockPath), age=age)
                    try:
                        os.unlink(self.lockPath)
                    except FileNotFoundError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    raise UidListLockTimeout(f"{self.lockPath} is held by another writer")
                time.sleep(0.005)

    def unlock(self) -> None:
        try:
            os.unlink(self.lockPath)
        except FileNotFoundError:
            pass


def _field(words, letter: str) -> int | None:
    for w in words[1:]:
        if w.startswith(letter) and w[1:].isdigit():
            return int(w[1:])
    return None
