"""
One Maildir folder on disk, and the process's index of it: UID -> file.

Synchronous and small: every method touches a handful of files (a full rescan is a
listing of new/ and cur/), and the backend calls them on the reactor thread. The index is
what the folder looked like when last examined; L{Folder.rescan} and L{Folder.refresh}
compare it with the disk and return what changed, by UID, for the tracker.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from twisted.logger import Logger

from idlemail.backends.maildir import flags as F
from idlemail.backends.maildir.safe import readNoFollow
from idlemail.backends.maildir.uidlist import UidList

log = Logger()
_counter = 0


@dataclass
class Entry:
    base: str
    subdir: str  # "new" or "cur"
    filename: str
    flags: frozenset
    size: int | None = None  # octets with CRLF line ends, once known

    @property
    def info(self) -> str:
        return F.split(self.filename)[1]


@dataclass
class Changes:
    added: list  # UIDs, ascending
    expunged: list
    flags: list  # (uid, frozenset)
    recent: list  # those of added that were found in new/

    def __bool__(self):
        return bool(self.added or self.expunged or self.flags)


def crlf(data: bytes) -> bytes:
    if b"\n" not in data.replace(b"\r\n", b""):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def readPath(path: Path) -> bytes | None:
    """
    A message file with CRLF line ends, or None if it is gone (or became a symlink,
    which is never followed). Safe in a thread.
    """
    try:
        data = readNoFollow(path)
    except FileNotFoundError:
        return None
    return None if data is None else crlf(data)


def statPaths(items) -> list:
    """For (uid, path, knownSize): (uid, size or None, mtime or None). Safe in a thread."""
    out = []
    for uid, path, size in items:
        try:
            mtime = os.lstat(path).st_mtime
        except FileNotFoundError:
            out.append((uid, None, None))
            continue
        if size is None:
            data = readPath(path)
            size = None if data is None else len(data)
        out.append((uid, size, mtime))
    return out


def uniqueName() -> str:
    """A Maildir file name: time, microseconds, pid and counter, host (maildir(5))."""
    global _counter
    _counter += 1
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{_counter}.{host}"


def fsyncDir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _vsize(base: str) -> int | None:
    for part in base.split(",")[1:]:
        if part.startswith("W=") and part[2:].isdigit():
            return int(part[2:])
    return None


class Folder:
    """
    @param newValidity: allocates this folder's UIDVALIDITY when it has none yet
        (see L{UidList}).
    """

    def __init__(self, path: Path, newValidity=None):
        self.path = path
        self.uidlist = UidList(path) if newValidity is None else UidList(path, newValidity)
        self.keywords = F.Keywords(path)
        self.byUid: dict[int, Entry] = {}
        self.byBase: dict[str, int] = {}
        self._symlinks: set[str] = set()  # message files skipped, warned about once

    # --- scanning -------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "cur").is_dir()

    def _listing(self) -> dict[str, tuple[str, str]]:
        """base -> (subdir, filename) for every message file now on disk."""
        found: dict[str, tuple[str, str]] = {}
        for subdir in ("new", "cur"):
            try:
                entries = list(os.scandir(self.path / subdir))
            except FileNotFoundError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_symlink():
                    # It could point anywhere (another user's mail, /etc/shadow).
                    if name not in self._symlinks:
                        self._symlinks.add(name)
                        log.warn("{path}: skipping a message file that is a symlink",
                                 path=str(self.path / subdir / name))
                    continue
                base = F.split(name)[0]
                found.setdefault(base, (subdir, name))
        return found

    def _mtime(self, subdir: str, name: str) -> float:
        try:
            return os.lstat(self.path / subdir / name).st_mtime
        except FileNotFoundError:
            return 0.0

    def rescan(self) -> Changes:
        """Compare the whole folder with the index (used at open and by the poller)."""
        self.uidlist.load()  # UIDVALIDITY is known even when no file is new
        return self._apply(self._listing(), full=True)

    def refresh(self, bases) -> Changes:
        """Compare only these bases (from file events) with the index."""
        listing = {}
        for base in bases:
            where = self._locate(base)
            if where is not None:
                listing[base] = where
        return self._apply(listing, full=False, only=set(bases))

    def _locate(self, base: str):
        uid = self.byBase.get(base)
        if uid is not None:
            e = self.byUid[uid]
            if os.path.lexists(self.path / e.subdir / e.filename):
                return (e.subdir, e.filename)
        # Renamed (flags) or moved between new/ and cur/: look for it by its base.
        for subdir in ("new", "cur"):
            for candidate in (base, base + F.INFO):
                if os.path.lexists(self.path / subdir / candidate):
                    return (subdir, candidate)
            try:
                for name in os.listdir(self.path / subdir):
                    if name.startswith(base + F.INFO) or name == base:
                        return (subdir, name)
            except FileNotFoundError:
                pass
        return None

    def _apply(self, listing, full: bool, only=None) -> Changes:
        changes = Changes([], [], [], [])
        known = set(self.byBase) if full else (set(self.byBase) & only)
        for base in sorted(known - set(listing), key=lambda b: self.byBase[b]):
            uid = self.byBase.pop(base)
            del self.byUid[uid]
            changes.expunged.append(uid)
        fresh = []
        for base, (subdir, name) in listing.items():
            uid = self.byBase.get(base)
            if uid is None:
                fresh.append(base)
                continue
            e = self.byUid[uid]
            e.subdir = subdir
            if e.filename != name:
                e.filename = name
                newFlags = self.keywords.toFlags(F.split(name)[1])
                if newFlags != e.flags:
                    e.flags = newFlags
                    changes.flags.append((uid, newFlags))
        if fresh or (full and changes.expunged) or not self.uidlist.path.exists():
            self._assign(fresh, listing, changes, full)
        changes.flags.sort()
        return changes

    def _assign(self, fresh, listing, changes, full) -> None:
        fresh.sort(key=lambda b: (self._mtime(*listing[b]), b))
        self.uidlist.load()
        needed = (self.uidlist.repaired or not self.uidlist.path.exists()
                  or any(b not in self.uidlist.byBase for b in fresh)
                  or (full and any(b not in listing for b in self.uidlist.byBase)))
        if needed:
            self.uidlist.lock()
            try:
                self.uidlist.load()  # another writer may have assigned some meanwhile
                self.uidlist.assign([b for b in fresh if b not in self.uidlist.byBase])
                if full:
                    self.uidlist.forget([b for b in self.uidlist.byBase if b not in listing])
                self.uidlist.repaired = False
                self.uidlist.save()
            except BaseException:
                self.uidlist.unlock()
                raise
        added = []
        for base in fresh:
            uid = self.uidlist.byBase[base]
            if uid in self.byUid:
                continue  # never give one UID two files
            subdir, name = listing[base]
            self.byBase[base] = uid
            self.byUid[uid] = Entry(base, subdir, name,
                                    self.keywords.toFlags(F.split(name)[1]), _vsize(base))
            added.append(uid)
            if subdir == "new":
                changes.recent.append(uid)
        added.sort()
        changes.added = added
        changes.recent.sort()

    # --- reading --------------------------------------------------------------------
    def uids(self) -> list[int]:
        return sorted(self.byUid)

    def entry(self, uid: int) -> Entry | None:
        return self.byUid.get(uid)

    def read(self, uid: int) -> bytes | None:
        """The message with CRLF line ends, or None if its file is gone."""
        e = self.byUid.get(uid)
        if e is None:
            return None
        for _ in range(3):  # the file may be renamed (flags) while we look
            try:
                data = readNoFollow(self.path / e.subdir / e.filename)
                if data is None:
                    return None
                data = crlf(data)
                e.size = len(data)
                return data
            except FileNotFoundError:
                where = self._locate(e.base)
                if where is None:
                    return None
                e.subdir, e.filename = where
        return None

    def size(self, uid: int) -> int | None:
        e = self.byUid.get(uid)
        if e is None:
            return None
        if e.size is None:
            data = self.read(uid)
            return None if data is None else len(data)
        return e.size

    def internalDate(self, uid: int) -> datetime:
        e = self.byUid[uid]
        return datetime.fromtimestamp(self._mtime(e.subdir, e.filename) or time.time(),
                                      timezone.utc)

    # --- writing --------------------------------------------------------------------
    def add(self, message: bytes, flags, internaldate: datetime | None,
            recent: bool = False) -> int:
        """
        Deliver as maildir(5) says: tmp/, fsync, rename into cur/ (or new/ if it is
        to stay \\Recent for the next session, as an MDA's delivery is), fsync the
        directory.
        """
        data = crlf(message)
        base = f"{uniqueName()},S={len(data)},W={len(data)}"
        info = self.keywords.toInfo(flags)
        subdir = "new" if recent else "cur"
        tmp = self.path / "tmp" / base
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if internaldate is not None:
            stamp = internaldate.timestamp()
            os.utime(tmp, (stamp, stamp))
        name = base + F.INFO + info if info or not recent else base
        os.rename(tmp, self.path / subdir / name)
        fsyncDir(self.path / subdir)
        self.uidlist.lock()
        try:
            self.uidlist.load()
            [(_, uid)] = self.uidlist.assign([base])
            self.uidlist.save()
        except BaseException:
            self.uidlist.unlock()
            raise
        self.byBase[base] = uid
        self.byUid[uid] = Entry(base, subdir, name, self.keywords.toFlags(info), len(data))
        return uid

    def setFlags(self, uid: int, flags) -> frozenset | None:
        """Rename the file to carry C{flags}; the new flag set, or None if it is gone."""
        e = self.byUid.get(uid)
        if e is None:
            return None
        info = self.keywords.toInfo(flags, keep=e.info)
        name = e.base + F.INFO + info
        if e.subdir == "cur" and e.filename == name:
            return e.flags
        for _ in range(3):
            try:
                os.rename(self.path / e.subdir / e.filename, self.path / "cur" / name)
                break
            except FileNotFoundError:
                where = self._locate(e.base)
                if where is None:
                    return None
                e.subdir, e.filename = where
        else:
            return None
        e.subdir, e.filename = "cur", name
        e.flags = self.keywords.toFlags(info)
        return e.flags

    def remove(self, uids) -> list[int]:
        gone = []
        for uid in uids:
            e = self.byUid.get(uid)
            if e is None:
                continue
            try:
                os.unlink(self.path / e.subdir / e.filename)
            except FileNotFoundError:
                where = self._locate(e.base)
                if where is not None:
                    os.unlink(self.path / where[0] / where[1])
            del self.byUid[uid]
            del self.byBase[e.base]
            gone.append(uid)
        return gone

    def moveToCur(self, uids) -> None:
        """Messages a session has seen leave new/ (what makes them not \\Recent elsewhere)."""
        for uid in uids:
            e = self.byUid.get(uid)
            if e is None or e.subdir != "cur" and e.subdir != "new":
                continue
            if e.subdir == "new":
                name = e.filename if F.INFO in e.filename else e.filename + F.INFO
                try:
                    os.rename(self.path / "new" / e.filename, self.path / "cur" / name)
                    e.subdir, e.filename = "cur", name
                except FileNotFoundError:
                    pass


def createFolder(path: Path, subfolder: bool = True) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (path / "maildirfolder").touch()
