"""
One user's Maildir++ tree as an L{IAccount}: listing, creating, deleting and renaming
folders, subscriptions, STATUS and opening.

Everything that touches the disk runs in the backend's disk threads (the C{*Thread}
methods, which see only paths); changes to the tree are ordered per user by the
backend's home lock, and a folder being deleted or renamed first waits for its lane
(L{Lane.hold}), so that no delivery or flag rename is under way in it.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.backends.maildir import names as N
from idlemail.backends.maildir.disk import createFolder
from idlemail.backends.maildir.safe import isFolder, isRealDir, readNoFollow
from idlemail.errors import IMAPError, MailboxExists, NoSuchMailbox
from idlemail.interfaces import IAccount
from idlemail.records import MailboxInfo, MailboxStatus

log = Logger()


def removeFolder(path) -> None:
    """
    In a disk thread: the folder's directory tree removed. Another process that has the
    folder open (another worker) may write a record or a lock file into it while it goes
    (it is told of the deletion by the very file events the removal makes): the removal
    is tried again a few times before it fails.
    """
    for attempt in range(10):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.ENOTEMPTY or attempt == 9:
                raise
            time.sleep(0.01 * (attempt + 1))


@implementer(IAccount)
class MaildirAccount:
    delimiter = N.DELIMITER

    def __init__(self, backend, username: str, home: Path):
        self.backend, self.username, self.home = backend, username, home

    # --- helpers ------------------------------------------------------------------------
    def _inPool(self, f, *args) -> defer.Deferred:
        return self.backend.pool.run(f, *args)

    def _changing(self, work, *args) -> defer.Deferred:
        """Run the coroutine C{work(*args)} after this user's other tree changes."""
        return self.backend.homeLock(self.home).run(
            lambda: defer.ensureDeferred(work(*args)))

    def _pathOf(self, name: str) -> Path:
        return self.home / N.folderOf(name)

    async def existingPath(self, name: str) -> Path:
        """The folder of mailbox C{name}; L{NoSuchMailbox} if it is not there."""
        path = self._pathOf(name)
        opened = self.backend.folders.get(path)
        if opened is not None and opened.tracker is not None:
            return path  # open and watched here: checked when it was opened
        if not await self._inPool(self._isFolderThread, path):
            raise NoSuchMailbox(name)
        return path

    def _isFolderThread(self, path: Path) -> bool:
        # A symlink is never followed out of the Maildir: such a folder is not there.
        if path == self.home:
            return all(isRealDir(path / sub) for sub in ("cur", "new", "tmp"))
        return isFolder(path)

    def _namesThread(self) -> list[MailboxInfo]:
        names = ["INBOX"]
        for entry in sorted(os.listdir(self.home)):
            name = N.nameOf(entry)
            if name is not None and self._isFolderThread(self.home / entry):
                names.append(name)
        return [MailboxInfo(n) for n in names]

    def listMailboxes(self):
        return self._inPool(self._namesThread)

    # --- create ---------------------------------------------------------------------------
    def create(self, name: str):
        return self._changing(self._create, name)

    async def _create(self, name: str) -> None:
        if name.upper() == "INBOX":
            raise MailboxExists(name)
        levels = N.checkName(name)
        paths = [self._pathOf(N.DELIMITER.join(levels[:i])) for i in range(1, len(levels) + 1)]
        if await self._inPool(self._isFolderThread, paths[-1]):
            raise MailboxExists(name)
        await self._inPool(self._createFoldersThread, paths)
        self.backend.announce(self.home, paths[-1])

    def _createFoldersThread(self, paths) -> None:
        for path in paths:
            if self._isFolderThread(path):
                continue
            for part in (path, path / "cur", path / "new", path / "tmp"):
                if os.path.lexists(part) and not isRealDir(part):  # e.g. a symlink
                    raise IMAPError(f"Cannot create {path.name}: something else has that "
                                    "name", "CANNOT")
            createFolder(path)

    # --- delete ---------------------------------------------------------------------------
    def delete(self, name: str):
        return self._changing(self._delete, name)

    async def _delete(self, name: str) -> None:
        if name.upper() == "INBOX":
            raise IMAPError("INBOX cannot be deleted", "CANNOT")
        path = await self.existingPath(name)
        folder = self.backend.indexes.get(path)
        self.backend.forgetFolder(path)
        if folder is None:
            await self._inPool(removeFolder, path)
        else:
            release = await folder.lane.hold()  # after whatever its lane is doing
            try:
                await self._inPool(removeFolder, path)
            finally:
                release()
        self.backend.announce(self.home, path)

    # --- rename ---------------------------------------------------------------------------
    def rename(self, oldName: str, newName: str):
        return self._changing(self._rename, oldName, newName)

    async def _rename(self, old: str, new: str) -> None:
        source = await self.existingPath(old)
        target = self._pathOf(new)
        if new.upper() == "INBOX" or await self._inPool(os.path.lexists, target):
            raise MailboxExists(new)
        if (new + N.DELIMITER).startswith(old + N.DELIMITER):
            raise IMAPError("Cannot move a mailbox into itself", "CANNOT")
        if old.upper() == "INBOX":
            await self._renameInbox(source, target)
            return
        prefix = N.folderOf(old)
        entries = await self._inPool(os.listdir, self.home)
        moving = sorted(e for e in entries if e == prefix or e.startswith(prefix + "."))
        folders = [f for e in moving if (f := self.backend.indexes.get(self.home / e))]
        for entry in moving:
            self.backend.forgetFolder(self.home / entry)
        # Each lane finishes what it is doing, then waits: one at a time, so a held
        # lane holds no thread and the others go on to their hold.
        releases = []
        try:
            for folder in folders:
                releases.append(await folder.lane.hold())
            await self._inPool(self._renameThread, moving, prefix, N.folderOf(new), new)
        finally:
            for release in releases:
                release()
        newPrefix = N.folderOf(new)
        for entry in moving:
            self.backend.announce(self.home, self.home / entry)
            self.backend.announce(self.home, self.home / (newPrefix + entry[len(prefix):]))

    def _renameThread(self, moving, prefix: str, newPrefix: str, new: str) -> None:
        for entry in moving:
            os.rename(self.home / entry, self.home / (newPrefix + entry[len(prefix):]))
        levels = N.checkName(new)
        self._createFoldersThread(
            [self._pathOf(N.DELIMITER.join(levels[:i])) for i in range(1, len(levels))])

    async def _renameInbox(self, source: Path, target: Path) -> None:
        # RFC 3501 6.3.5: INBOX's messages move to the new mailbox; INBOX stays, empty.
        inbox = self.backend.folderAt(source, self.home)
        release = await inbox.lane.hold()
        try:
            await self._inPool(self._moveMessagesThread, source, target)
        finally:
            release()
        await inbox.scan(origin=None)  # our change: every process is told of the expunges
        self.backend.announce(self.home, target)

    def _moveMessagesThread(self, source: Path, target: Path) -> None:
        self._createFoldersThread([target])
        for sub in ("new", "cur"):
            for name in os.listdir(source / sub):
                os.rename(source / sub / name, target / sub / name)

    # --- subscriptions (Dovecot's "subscriptions" file, version 2) -----------------------
    def _readSubscriptionsThread(self) -> list[str]:
        path = self.home / "subscriptions"
        try:
            data = readNoFollow(path)
        except FileNotFoundError:
            return []
        if data is None:
            log.warn("{path}: not a regular file (a symlink?); ignored", path=str(path))
            return []
        lines = data.decode("utf-8", "replace").splitlines()
        if lines and lines[0].startswith("V\t"):
            lines = lines[1:]
            return [line.replace("\t", N.DELIMITER) for line in lines if line]
        return [line for line in lines if line]

    def _writeSubscriptionsThread(self, names) -> None:
        path = self.home / "subscriptions"
        tmp = path.with_name(f".subscriptions.{os.getpid()}")
        body = "".join(n.replace(N.DELIMITER, "\t") + "\n" for n in sorted(set(names)))
        tmp.write_text("V\t2\n\n" + body, encoding="utf-8")
        os.replace(tmp, path)

    def _updateSubscriptionsThread(self, add: str | None, remove: str | None) -> None:
        names = self._readSubscriptionsThread()
        if add is not None and add in names:
            return
        names = [n for n in names if n != remove] + ([add] if add is not None else [])
        self._writeSubscriptionsThread(names)

    def subscribe(self, name: str):
        return self.backend.homeLock(self.home).run(
            self._inPool, self._updateSubscriptionsThread, name, None)

    def unsubscribe(self, name: str):
        return self.backend.homeLock(self.home).run(
            self._inPool, self._updateSubscriptionsThread, None, name)

    def subscriptions(self):
        return self._inPool(self._readSubscriptionsThread)

    # --- status and open ------------------------------------------------------------------
    def status(self, name: str):
        return defer.ensureDeferred(self._status(name))

    async def _status(self, name: str) -> MailboxStatus:
        path = await self.existingPath(name)
        opened = self.backend.folders.get(path)
        if opened is not None:
            await opened.whenReady()
            folder, recent = opened.folder, opened.tracker.recentCount
        else:  # not watched: look at the whole folder first, in the pool
            folder = self.backend.folderAt(path, self.home)
            await folder.scan()
            recent = folder.inNew
        return MailboxStatus(len(folder.byUid), recent, folder.uidNext, folder.uidValidity,
                             folder.unseen, max(folder.highestModseq, 1))

    def open(self, name: str, readonly: bool):
        return defer.ensureDeferred(self._open(name, readonly))

    async def _open(self, name: str, readonly: bool):
        from idlemail.backends.maildir.mailbox import MaildirMailbox
        path = await self.existingPath(name)
        opened = await self.backend.openFolder(path, self.home)
        return MaildirMailbox(name, opened, self, readonly)

    def logout(self) -> None:
        pass
