"""
Message files of one Maildir folder on disk: listing, delivery, reading, renaming.

Plain functions of paths and names, called only in the backend's disk threads
(L{idlemail.backends.maildir.pool}); none of them touches the in-memory index. A file
may be renamed (flags) or moved from new/ to cur/ by another program at any moment, so
every function that is given a name finds the file again by its base when the name is
gone (L{locate}).
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from twisted.logger import Logger

from idlemail.backends.maildir import flags as F
from idlemail.backends.maildir.pool import breathing
from idlemail.backends.maildir.safe import writeAll

log = Logger()
SUBDIRS = ("new", "cur")
_counter = 0


def crlf(data: bytes) -> bytes:
    """C{data} with every bare LF made CRLF (RFC 3501 counts and sends CRLF lines)."""
    if b"\n" not in data.replace(b"\r\n", b""):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def vsizeOf(base: str) -> int | None:
    """The size with CRLF line ends from a C{,W=} field of the name (Dovecot's), if any."""
    for part in base.split(",")[1:]:
        if part.startswith("W=") and part[2:].isdigit():
            return int(part[2:])
    return None


def physicalSizeOf(base: str) -> int | None:
    """The file's size on disk from a C{,S=} field of the name, if any."""
    for part in base.split(",")[1:]:
        if part.startswith("S=") and part[2:].isdigit():
            return int(part[2:])
    return None


def uniqueName() -> str:
    """A Maildir file name: time, microseconds, pid and counter, host (maildir(5))."""
    global _counter
    _counter += 1  # under the GIL; the pid and microseconds keep names apart anyway
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{_counter}.{host}"


# --- finding files -------------------------------------------------------------------
class Listing(dict):
    """base -> (subdir, filename) of every message file in new/ and cur/."""


def listing(folder: Path, symlinks: set[str]) -> Listing:
    """
    Every message file now in the folder. Symlinks are skipped (they could point at
    another user's mail), each warned about once (C{symlinks} remembers them).
    """
    found = Listing()
    for subdir in SUBDIRS:
        try:
            entries = list(os.scandir(folder / subdir))
        except FileNotFoundError:
            continue
        for entry in breathing(entries):
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_symlink():
                skipSymlink(folder, subdir, name, symlinks)
                continue
            found.setdefault(F.split(name)[0], (subdir, name))
    return found


def skipSymlink(folder: Path, subdir: str, name: str, symlinks: set[str]) -> None:
    """A message file that is a symlink is never read; say so once per name."""
    if name not in symlinks:
        symlinks.add(name)
        log.warn("{path}: skipping a message file that is a symlink",
                 path=str(folder / subdir / name))


def locate(folder: Path, base: str) -> tuple[str, str] | None:
    """Where the file of C{base} is now (renamed for flags, or moved to cur/), or None."""
    for subdir in SUBDIRS:
        for candidate in (base, base + F.INFO):
            if os.path.lexists(folder / subdir / candidate):
                return (subdir, candidate)
    for subdir in SUBDIRS:
        try:
            names = os.listdir(folder / subdir)
        except FileNotFoundError:
            continue
        for name in names:
            if name == base or name.startswith(base + F.INFO):
                return (subdir, name)
    return None


def mtimeOf(folder: Path, subdir: str, name: str) -> float | None:
    try:
        return os.lstat(folder / subdir / name).st_mtime
    except FileNotFoundError:
        return None


# --- reading -------------------------------------------------------------------------
def openMessage(folder: Path, base: str, subdir: str, name: str):
    """
    C{(fd, subdir, name)} of the message file, opened for reading and found again by
    its base if it was renamed; None if it is gone or is not a regular file (a symlink
    is never followed).
    """
    for _ in range(3):
        try:
            fd = os.open(folder / subdir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            where = locate(folder, base)
            if where is None:
                return None
            subdir, name = where
            continue
        except OSError as e:
            if e.errno == errno.ELOOP:
                return None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd, subdir, name
    return None


def readMessage(folder: Path, base: str, subdir: str, name: str) -> bytes | None:
    """The whole message with CRLF line ends, or None if it is gone."""
    opened = openMessage(folder, base, subdir, name)
    if opened is None:
        return None
    fd = opened[0]
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return crlf(b"".join(chunks))


def countCrlfSize(fd: int) -> int:
    """The size of an open message with CRLF line ends, read in pieces."""
    size, lastCR = 0, False
    while chunk := os.read(fd, 1 << 16):
        bare = chunk.count(b"\n") - chunk.count(b"\r\n")
        if lastCR and chunk[:1] == b"\n":
            bare -= 1  # the CR ending the previous piece makes this LF a CRLF
        size += len(chunk) + bare
        lastCR = chunk[-1:] == b"\r"
    return size


@dataclass(slots=True)
class Facts:
    """What a stat (and, for the size, one read) of a message file says."""
    uid: int
    size: int | None
    mtime: float | None  # None: the file is gone


def learnFacts(folder: Path, wanted) -> list[Facts]:
    """
    For C{(uid, base, subdir, name, needSize)} items: the modification time (the
    internal date) and, where asked, the size with CRLF line ends. A file is opened
    only to count its size; a date alone is one lstat.
    """
    out = []
    for uid, base, subdir, name, needSize in wanted:
        if needSize:
            out.append(_countFacts(folder, uid, base, subdir, name))
            continue
        try:
            st = os.lstat(folder / subdir / name)
        except FileNotFoundError:
            where = locate(folder, base)
            st = None if where is None else _lstatOrNone(folder / where[0] / where[1])
        if st is None or not stat.S_ISREG(st.st_mode):
            out.append(Facts(uid, None, None))
        else:
            out.append(Facts(uid, None, st.st_mtime))
    return out


def _lstatOrNone(path: Path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _countFacts(folder: Path, uid: int, base: str, subdir: str, name: str) -> Facts:
    opened = openMessage(folder, base, subdir, name)
    if opened is None:
        return Facts(uid, None, None)
    fd = opened[0]
    try:
        return Facts(uid, countCrlfSize(fd), os.fstat(fd).st_mtime)
    finally:
        os.close(fd)


# --- writing -------------------------------------------------------------------------
@dataclass(slots=True)
class Prepared:
    """A message written and fsynced in tmp/, not yet visible in new/ or cur/."""
    base: str
    size: int | None  # octets with CRLF line ends, if known
    mtime: float


@dataclass(slots=True)
class Delivered:
    """A message renamed into new/ or cur/ (durable once its directory is fsynced)."""
    base: str
    subdir: str
    name: str
    size: int | None
    mtime: float


def writeTmp(folder: Path, data: bytes, stamp: float | None) -> Prepared:
    """
    The first half of a maildir(5) delivery: write the message in tmp/ and fsync it,
    its modification time set to C{stamp} (the internal date) if given.
    """
    base = f"{uniqueName()},S={len(data)},W={len(data)}"
    tmp = folder / "tmp" / base
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        writeAll(fd, data)
        os.fsync(fd)
        if stamp is not None:
            os.utime(fd, (stamp, stamp))
        mtime = os.fstat(fd).st_mtime
    except BaseException:
        os.close(fd)
        _unlinkQuietly(tmp)
        raise
    os.close(fd)
    return Prepared(base, len(data), mtime)


def linkTmp(folder: Path, source: Path, base: str, subdir: str, name: str) -> Prepared | None:
    """
    A copy of the message C{base} of the folder at C{source}, hard-linked into tmp/
    (its data is durable already, and the internal date is the file's), as Dovecot
    copies; None if it is gone or the file system cannot link it (then the caller
    writes a copy).
    """
    fields = [uniqueName()]
    if physicalSizeOf(base) is not None:
        fields.append(f"S={physicalSizeOf(base)}")
    if vsizeOf(base) is not None:
        fields.append(f"W={vsizeOf(base)}")
    newBase = ",".join(fields)
    tmp = folder / "tmp" / newBase
    for _ in range(3):
        try:
            os.link(source / subdir / name, tmp, follow_symlinks=False)
            break
        except FileNotFoundError:
            where = locate(source, base)
            if where is None:
                return None
            subdir, name = where
        except OSError as e:
            if e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                return None
            raise
    else:
        return None
    st = os.lstat(tmp)
    if not stat.S_ISREG(st.st_mode):  # a symlink: never followed, never copied
        _unlinkQuietly(tmp)
        return None
    return Prepared(newBase, vsizeOf(base), st.st_mtime)


def place(folder: Path, prepared: Prepared, info: str, recent: bool, own=None) -> Delivered:
    """
    The second half: rename into cur/ (or new/ if it is to stay \\Recent for the next
    session, as an MDA's delivery is). The caller fsyncs the directory, once for a batch.
    """
    subdir = "new" if recent else "cur"
    base = prepared.base
    name = base + F.INFO + info if info or not recent else base
    with _expecting(own, (subdir, name)):
        os.rename(folder / "tmp" / base, folder / subdir / name)
    return Delivered(base, subdir, name, prepared.size, prepared.mtime)


def unlinkTmp(folder: Path, prepared: Prepared) -> None:
    _unlinkQuietly(folder / "tmp" / prepared.base)


class _expecting:
    """Tell the folder's watch (an L{OwnChanges}, or None) of the events a change we
    are about to make will cause; take it back if the change fails."""

    def __init__(self, own, *where):
        self.own, self.where = own, where

    def __enter__(self):
        if self.own is not None:
            self.own.expect(*self.where)

    def __exit__(self, kind, value, tb):
        if kind is not None and self.own is not None:
            self.own.cancel(*self.where)
        return False


def _unlinkQuietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def renameMessage(folder: Path, base: str, subdir: str, name: str,
                  toSubdir: str, toName: str, own=None) -> tuple[str, str] | None:
    """Rename a message file (flags, or new/ -> cur/); where it is now, or None if gone."""
    for _ in range(3):
        try:
            with _expecting(own, (subdir, name), (toSubdir, toName)):
                os.rename(folder / subdir / name, folder / toSubdir / toName)
            return (toSubdir, toName)
        except FileNotFoundError:
            where = locate(folder, base)
            if where is None:
                return None
            subdir, name = where
    return None


def claimMessage(folder: Path, base: str, name: str, own=None) -> tuple[str, str] | None:
    """
    Move a message from new/ to cur/ under its own name (with an info part added if it
    has none); where it is now, or None if it is gone or already left new/ by another
    hand: then its name there (its flags, set by another process meanwhile) stands, and a
    look at the folder reads it. Never renames a file that is no longer in new/.
    """
    for _ in range(3):
        target = name if F.INFO in name else name + F.INFO
        try:
            with _expecting(own, ("new", name), ("cur", target)):
                os.rename(folder / "new" / name, folder / "cur" / target)
            return ("cur", target)
        except FileNotFoundError:
            where = locate(folder, base)
            if where is None or where[0] != "new":
                return None
            name = where[1]
    return None


def unlinkMessage(folder: Path, base: str, subdir: str, name: str, own=None) -> None:
    try:
        with _expecting(own, (subdir, name)):
            os.unlink(folder / subdir / name)
    except FileNotFoundError:
        where = locate(folder, base)
        if where is not None:
            _unlinkQuietly(folder / where[0] / where[1])


def unlinkDelivered(folder: Path, delivered) -> None:
    """Take back messages whose UIDs could not be recorded (their APPEND answers NO)."""
    for d in delivered:
        unlinkMessage(folder, d.base, d.subdir, d.name)


def createFolder(path: Path, subfolder: bool = True) -> None:
    """cur/, new/ and tmp/ (and the C{maildirfolder} mark of a Maildir++ subfolder)."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (path / "maildirfolder").touch()
