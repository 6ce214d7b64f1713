"""
File access that never follows a symlink out of a user's Maildir: a message file, a
folder or an index file that is a symlink is treated as not being there. And the two ways
an index file (uidlist, MODSEQs) is made durable: appended to, or written whole.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def readNoFollow(path: Path, limit: int | None = None) -> bytes | None:
    """
    The bytes of a regular file (its first C{limit} if given), or None if it is a
    symlink or not a regular file. Raises FileNotFoundError if it is gone.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, got = [], 0
        while (limit is None or got < limit) and (
                chunk := os.read(fd, 1 << 20 if limit is None else min(1 << 20, limit - got))):
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def isRealDir(path: Path) -> bool:
    """True if C{path} is a directory and not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def isFolder(path: Path) -> bool:
    """True if C{path} and its cur/, new/ and tmp/ are all real directories."""
    return isRealDir(path) and all(isRealDir(path / sub) for sub in ("cur", "new", "tmp"))


def writeAll(fd: int, data: bytes) -> None:
    """Write all of C{data} to C{fd} (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsyncDir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Owed:
    """
    The syncs owed before what a group of lane jobs did may be acknowledged: files
    appended to (fdatasync) and directories renamed into (fsync), each once, in the
    order first owed. Done together at the group's end, after every write, the first
    sync commits the file system's journal for all of them and the others find little
    left to do (one commit instead of one per file).
    """

    def __init__(self):
        self._paths: dict[Path, bool] = {}  # path -> is a directory

    def file(self, path: Path) -> None:
        self._paths.setdefault(path, False)

    def directory(self, path: Path) -> None:
        self._paths.setdefault(path, True)

    def sync(self) -> None:
        """Do every sync owed (a file gone meanwhile, with its folder, owes nothing)."""
        paths, self._paths = self._paths, {}
        for path, isDir in paths.items():
            if isDir:
                fsyncDir(path)
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)

    def forget(self) -> None:
        self._paths = {}


def appendSynced(path: Path, data: bytes, owed: Owed | None = None) -> os.stat_result:
    """Append C{data} to the (existing, regular) file and fdatasync it, or add it to
    what C{owed} syncs later; its stat after."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        writeAll(fd, data)
        if owed is None:
            os.fdatasync(fd)
        else:
            owed.file(path)
        return os.fstat(fd)
    finally:
        os.close(fd)
