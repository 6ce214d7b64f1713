"""
The Maildir backend: Dovecot-compatible Maildir++ trees under C{<root>/<user>/Maildir},
users from a Dovecot-style passwd-file, and instant push for mail dropped in by any MDA.

Each open folder is watched once per process (L{OpenFolder}), whatever the number of
sessions that have it selected; its changes, by UID, go to its one L{MailboxTracker}.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.backends.maildir import names as N
from idlemail.backends.maildir.flags import MAX_KEYWORDS
from idlemail.backends.maildir.safe import isFolder, isRealDir, readNoFollow
from idlemail.backends.maildir.store import Folder, createFolder, readPath, statPaths
from idlemail.backends.maildir.validity import nextUidValidity
from idlemail.backends.maildir.watch import WatchHub
from idlemail.errors import IMAPError, MailboxExists, NoSuchMailbox
from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged
from idlemail.interfaces import IAccount, IBackend, IMailbox
from idlemail.records import (
    SYSTEM_FLAGS,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    applyFlags,
)
from idlemail.tracker import MailboxTracker

log = Logger()


def maildirOf(root, username: str) -> Path:
    return Path(root) / username / "Maildir"


def createMaildir(root, username: str) -> Path:
    """Make C{<root>/<username>/Maildir} with cur/, new/ and tmp/; return its path."""
    path = maildirOf(root, username)
    createFolder(path, subfolder=False)
    return path


def validityAllocator(home: Path):
    """UIDVALIDITY for the folders of the Maildir at C{home}, never one given before."""
    return lambda atLeast=1: nextUidValidity(home, atLeast)


class OpenFolder:
    """A folder open in this process: its index, its tracker and its watch."""

    def __init__(self, backend: "MaildirBackend", path: Path, home: Path):
        self.backend, self.path = backend, path
        self.folder = Folder(path, validityAllocator(home))
        changes = self.folder.rescan()
        # What is in new/ is \Recent; a read-write session that claims it moves it to
        # cur/, as Dovecot does, so that no other program counts it as recent again.
        self.tracker = MailboxTracker(self.folder.uids(), changes.recent,
                                      self.folder.keywords.known())
        self.tracker.onClaim = self.folder.moveToCur
        self.handles = 0
        self.watch = backend.hub.watch(path, self.refresh, self.rescan)

    def publishKeywords(self) -> None:
        """Tell sessions of keywords new to the folder (ours or another program's)
        before any change that uses them (RFC 3501 7.2.6)."""
        known = self.folder.keywords.known()
        if len(known) != len(self.tracker.keywords):
            self.tracker.publish(KeywordsAdded(tuple(known)))

    def refresh(self, bases) -> None:
        self._publish(self.folder.refresh(bases))

    def rescan(self) -> None:
        self._publish(self.folder.rescan())

    def _publish(self, changes, origin=None) -> None:
        self.publishKeywords()
        if changes.expunged:
            self.tracker.publish(MessagesExpunged(tuple(changes.expunged)), origin)
        if changes.added:
            self.tracker.publish(MessagesAdded(tuple(changes.added)), origin)
        if changes.flags:
            self.tracker.publish(FlagsChanged(tuple(changes.flags)), origin)

    def release(self) -> None:
        self.handles -= 1
        if self.handles <= 0 and not self.tracker.sessions:
            self.close()

    def close(self) -> None:
        self.watch.stop()
        self.backend.folders.pop(self.path, None)


@implementer(IBackend)
class MaildirBackend:
    def __init__(self, root, passwdFile, reactor=None, pollInterval: float = 2.0,
                 useInotify: bool = True):
        if reactor is None:
            from twisted.internet import reactor
        from idlemail.passwd import PasswdFile
        self.root = Path(root)
        self.passwd = PasswdFile(passwdFile)
        self.reactor = reactor
        self.hub = WatchHub(reactor, pollInterval, useInotify)
        self.folders: dict[Path, OpenFolder] = {}

    def login(self, username: str, password: str):
        if not username or "/" in username or username.startswith("."):
            return defer.fail(UnauthorizedLogin())
        d = self.passwd.checkPassword(username, password)

        def decide(ok):
            if not ok:
                raise UnauthorizedLogin()
            home = maildirOf(self.root, username)
            if not (home / "cur").is_dir():
                createMaildir(self.root, username)
            return MaildirAccount(self, username, home)
        return d.addCallback(decide)

    def openFolder(self, path: Path, home: Path) -> OpenFolder:
        opened = self.folders.get(path)
        if opened is None:
            opened = self.folders[path] = OpenFolder(self, path, home)
        return opened

    def close(self):
        for opened in list(self.folders.values()):
            opened.close()
        self.hub.close()
        return defer.succeed(None)


@implementer(IAccount)
class MaildirAccount:
    delimiter = N.DELIMITER

    def __init__(self, backend: MaildirBackend, username: str, home: Path):
        self.backend, self.username, self.home = backend, username, home
        self.newValidity = validityAllocator(home)

    def _path(self, name: str, mustExist: bool = True) -> Path:
        path = self.home / N.folderOf(name)
        if mustExist and not self._isFolder(path):
            raise NoSuchMailbox(name)
        return path

    def _isFolder(self, path: Path) -> bool:
        # A symlink is never followed out of the Maildir: such a folder is not there.
        if path == self.home:
            return all(isRealDir(path / sub) for sub in ("cur", "new", "tmp"))
        return isFolder(path)

    def _names(self) -> list[str]:
        names = ["INBOX"]
        for entry in sorted(os.listdir(self.home)):
            name = N.nameOf(entry)
            if name is not None and self._isFolder(self.home / entry):
                names.append(name)
        return names

    def listMailboxes(self):
        return defer.maybeDeferred(lambda: [MailboxInfo(n) for n in self._names()])

    def create(self, name: str):
        return defer.maybeDeferred(self._create, name)

    def _create(self, name: str) -> None:
        if name.upper() == "INBOX" or self._isFolder(self._path(name, False)):
            raise MailboxExists(name)
        levels = N.checkName(name)
        for i in range(1, len(levels) + 1):
            self._createFolder(self._path(N.DELIMITER.join(levels[:i]), False))

    def _createFolder(self, path: Path) -> None:
        if self._isFolder(path):
            return
        for part in (path, path / "cur", path / "new", path / "tmp"):
            if os.path.lexists(part) and not isRealDir(part):  # e.g. a symlink
                raise IMAPError(f"Cannot create {path.name}: something else has that name",
                                "CANNOT")
        createFolder(path)

    def delete(self, name: str):
        return defer.maybeDeferred(self._delete, name)

    def _delete(self, name: str) -> None:
        if name.upper() == "INBOX":
            raise IMAPError("INBOX cannot be deleted", "CANNOT")
        path = self._path(name)
        opened = self.backend.folders.get(path)
        if opened is not None:
            opened.close()
        shutil.rmtree(path)

    def rename(self, oldName: str, newName: str):
        return defer.maybeDeferred(self._rename, oldName, newName)

    def _rename(self, old: str, new: str) -> None:
        source = self._path(old)
        target = self._path(new, False)
        if new.upper() == "INBOX" or os.path.lexists(target):
            raise MailboxExists(new)
        if (new + N.DELIMITER).startswith(old + N.DELIMITER):
            raise IMAPError("Cannot move a mailbox into itself", "CANNOT")
        if old.upper() == "INBOX":
            self._renameInbox(source, target)
            return
        prefix, newPrefix = N.folderOf(old), N.folderOf(new)
        for entry in os.listdir(self.home):
            if entry == prefix or entry.startswith(prefix + "."):
                path = self.home / entry
                opened = self.backend.folders.get(path)
                if opened is not None:
                    opened.close()
                os.rename(path, self.home / (newPrefix + entry[len(prefix):]))
        levels = N.checkName(new)
        for i in range(1, len(levels)):
            self._createFolder(self._path(N.DELIMITER.join(levels[:i]), False))

    def _renameInbox(self, source: Path, target: Path) -> None:
        # RFC 3501 6.3.5: INBOX's messages move to the new mailbox; INBOX stays, empty.
        self._createFolder(target)
        for sub in ("new", "cur"):
            for name in os.listdir(source / sub):
                os.rename(source / sub / name, target / sub / name)
        opened = self.backend.folders.get(source)
        if opened is not None:
            opened.rescan()

    # --- subscriptions (Dovecot's "subscriptions" file, version 2) -----------------------
    def _readSubscriptions(self) -> list[str]:
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

    def _writeSubscriptions(self, names) -> None:
        path = self.home / "subscriptions"
        tmp = path.with_name(f".subscriptions.{os.getpid()}")
        body = "".join(n.replace(N.DELIMITER, "\t") + "\n" for n in sorted(set(names)))
        tmp.write_text("V\t2\n\n" + body, encoding="utf-8")
        os.replace(tmp, path)

    def subscribe(self, name: str):
        def run():
            names = self._readSubscriptions()
            if name not in names:
                self._writeSubscriptions(names + [name])
        return defer.maybeDeferred(run)

    def unsubscribe(self, name: str):
        return defer.maybeDeferred(lambda: self._writeSubscriptions(
            [n for n in self._readSubscriptions() if n != name]))

    def subscriptions(self):
        return defer.maybeDeferred(self._readSubscriptions)

    def status(self, name: str):
        return defer.maybeDeferred(self._status, name)

    def _status(self, name: str) -> MailboxStatus:
        path = self._path(name)
        opened = self.backend.folders.get(path)
        if opened is not None:
            folder, recent = opened.folder, opened.tracker.recentCount
        else:
            folder = Folder(path, self.newValidity)
            recent = len(folder.rescan().recent)
        unseen = sum(1 for e in folder.byUid.values() if "\\Seen" not in e.flags)
        return MailboxStatus(len(folder.byUid), recent, folder.uidlist.uidNext,
                             folder.uidlist.uidValidity, unseen)

    def open(self, name: str, readonly: bool):
        def run():
            opened = self.backend.openFolder(self._path(name), self.home)
            return MaildirMailbox(name, opened, self, readonly)
        return defer.maybeDeferred(run)

    def logout(self) -> None:
        pass


@implementer(IMailbox)
class MaildirMailbox:

    def __init__(self, name: str, opened: OpenFolder, account: MaildirAccount, readonly: bool):
        self.name, self.readonly, self._account = name, readonly, account
        self._opened = opened
        self._folder = opened.folder
        self.tracker = opened.tracker
        opened.handles += 1
        self._closed = False

    @property
    def permanentFlags(self) -> tuple[str, ...]:
        # A Maildir folder has 26 keyword letters; when all are used, no new keyword.
        full = len(self._folder.keywords.known()) >= MAX_KEYWORDS
        return SYSTEM_FLAGS if full else SYSTEM_FLAGS + ("\\*",)

    @property
    def uidValidity(self) -> int:
        return self._folder.uidlist.uidValidity

    @property
    def uidNext(self) -> int:
        return self._folder.uidlist.uidNext

    def messages(self, uids):
        # File reads and stats happen in a thread: a big mailbox must not stall every idler.
        folder = self._folder
        wanted = [(uid, folder.path / e.subdir / e.filename, e.size)
                  for uid in uids if (e := folder.entry(uid)) is not None]

        def assemble(found):
            out = []
            for uid, size, mtime in found:
                e = folder.entry(uid)
                if e is None:
                    continue
                if size is None or mtime is None:  # renamed meanwhile, or gone: look again
                    size = folder.size(uid)
                    if size is None:
                        continue  # vanished between listing and reading: an expunge to come
                    out.append(MessageInfo(uid, e.flags, folder.internalDate(uid), size))
                    continue
                e.size = size
                out.append(MessageInfo(uid, e.flags,
                                       datetime.fromtimestamp(mtime, timezone.utc), size))
            return out
        return threads.deferToThread(statPaths, wanted).addCallback(assemble)

    def flags(self, uids):
        entries = self._folder.byUid
        return defer.succeed({uid: e.flags for uid in uids if (e := entries.get(uid)) is not None})

    def body(self, uid: int):
        e = self._folder.entry(uid)
        if e is None:
            return defer.succeed(None)

        def got(data):
            if data is None:
                return self._folder.read(uid)  # renamed (flags) meanwhile: find it again
            e.size = len(data)
            return data
        return threads.deferToThread(readPath, self._folder.path / e.subdir / e.filename
                                     ).addCallback(got)

    def append(self, message: bytes, flags, internaldate):
        def run():
            # Nobody to claim it: it stays \Recent (in new/) for the next session.
            uid = self._folder.add(message, flags, internaldate,
                                   recent=not self.tracker.hasWriter)
            self._opened.publishKeywords()
            self.tracker.publish(MessagesAdded((uid,)))
            return uid
        return defer.maybeDeferred(run)

    def store(self, uids, flags, mode: str, origin=None):
        def run():
            wanted = self._folder.keywords.canonical(flags)
            result, changed = {}, []
            for uid in uids:
                e = self._folder.entry(uid)
                if e is None:
                    continue
                old = e.flags
                new = self._folder.setFlags(uid, applyFlags(old, wanted, mode))
                if new is None:
                    continue
                result[uid] = new
                if new != old:
                    changed.append((uid, new))
            self._opened.publishKeywords()
            if changed:
                self.tracker.publish(FlagsChanged(tuple(changed)), origin)
            return result
        return defer.maybeDeferred(run)

    def expunge(self, uids=None, origin=None):
        def run():
            candidates = self._folder.uids() if uids is None else sorted(uids)
            doomed = [u for u in candidates
                      if (e := self._folder.entry(u)) is not None and "\\Deleted" in e.flags]
            gone = self._folder.remove(doomed)
            if gone:
                self.tracker.publish(MessagesExpunged(tuple(gone)), origin)
            return gone
        return defer.maybeDeferred(run)

    def copy(self, uids, destination: str, move: bool = False, origin=None):
        def run():
            account = self._account
            target = account._path(destination)
            opened = account.backend.folders.get(target)
            folder = opened.folder if opened is not None else Folder(target, account.newValidity)
            # RFC 3501 6.4.7: copies are \Recent; they stay so (in new/) if nobody claims them.
            recent = opened is None or not opened.tracker.hasWriter
            pairs = []
            for uid in sorted(uids):
                e = self._folder.entry(uid)
                data = self._folder.read(uid)
                if e is None or data is None:
                    continue
                newUid = folder.add(data, e.flags, self._folder.internalDate(uid), recent)
                pairs.append((uid, newUid))
            if opened is not None and pairs:
                opened.publishKeywords()
                opened.tracker.publish(MessagesAdded(tuple(n for _, n in pairs)))
            if move and pairs:
                gone = self._folder.remove([u for u, _ in pairs])
                if gone:
                    self.tracker.publish(MessagesExpunged(tuple(gone)), origin)
            if not folder.uidlist.uidValidity:
                folder.uidlist.load()
            return (folder.uidlist.uidValidity, pairs)
        return defer.maybeDeferred(run)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._opened.release()
