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
from idlemail.backends.maildir.store import Folder, createFolder, readPath, statPaths
from idlemail.backends.maildir.watch import WatchHub
from idlemail.errors import MailboxError, MailboxExists, NoSuchMailbox
from idlemail.events import FlagsChanged, MessagesAdded, MessagesExpunged
from idlemail.interfaces import IAccount, IBackend, IMailbox
from idlemail.records import (
    SYSTEM_FLAGS,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    applyFlags,
)
from idlemail.server.tracker import MailboxTracker

log = Logger()


def maildirOf(root, username: str) -> Path:
    return Path(root) / username / "Maildir"


def createMaildir(root, username: str) -> Path:
    """Make C{<root>/<username>/Maildir} with cur/, new/ and tmp/; return its path."""
    path = maildirOf(root, username)
    createFolder(path, subfolder=False)
    return path


class OpenFolder:
    """A folder open in this process: its index, its tracker and its watch."""

    def __init__(self, backend: "MaildirBackend", path: Path):
        self.backend, self.path = backend, path
        self.folder = Folder(path)
        changes = self.folder.rescan()
        self.tracker = MailboxTracker(self.folder.uids(), changes.recent)
        self.handles = 0
        self.watch = backend.hub.watch(path, self.refresh, self.rescan)

    def refresh(self, bases) -> None:
        self._publish(self.folder.refresh(bases))

    def rescan(self) -> None:
        self._publish(self.folder.rescan())

    def _publish(self, changes, origin=None) -> None:
        if changes.expunged:
            self.tracker.publish(MessagesExpunged(tuple(changes.expunged)), origin)
        if changes.added:
            self.tracker.publish(MessagesAdded(tuple(changes.added)), origin)
            if any(not s.readonly for s in self.tracker.sessions):
                self.folder.moveToCur(changes.recent)
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

    def openFolder(self, path: Path) -> OpenFolder:
        opened = self.folders.get(path)
        if opened is None:
            opened = self.folders[path] = OpenFolder(self, path)
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

    def _path(self, name: str, mustExist: bool = True) -> Path:
        path = self.home / N.folderOf(name)
        if mustExist and not (path / "cur").is_dir():
            raise NoSuchMailbox(name)
        return path

    def _names(self) -> list[str]:
        names = ["INBOX"]
        for entry in sorted(os.listdir(self.home)):
            name = N.nameOf(entry)
            if name is not None and (self.home / entry / "cur").is_dir():
                names.append(name)
        return names

    def listMailboxes(self):
        return defer.maybeDeferred(lambda: [MailboxInfo(n) for n in self._names()])

    def create(self, name: str):
        return defer.maybeDeferred(self._create, name)

    def _create(self, name: str) -> None:
        if name.upper() == "INBOX" or (self._path(name, False) / "cur").is_dir():
            raise MailboxExists(name)
        levels = N.checkName(name)
        for i in range(1, len(levels) + 1):
            createFolder(self._path(N.DELIMITER.join(levels[:i]), False))

    def delete(self, name: str):
        return defer.maybeDeferred(self._delete, name)

    def _delete(self, name: str) -> None:
        if name.upper() == "INBOX":
            raise MailboxError("INBOX cannot be deleted", "CANNOT")
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
        if new.upper() == "INBOX" or (target / "cur").is_dir():
            raise MailboxExists(new)
        if (new + N.DELIMITER).startswith(old + N.DELIMITER):
            raise MailboxError("Cannot move a mailbox into itself", "CANNOT")
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
            createFolder(self._path(N.DELIMITER.join(levels[:i]), False))

    def _renameInbox(self, source: Path, target: Path) -> None:
        # RFC 3501 6.3.5: INBOX's messages move to the new mailbox; INBOX stays, empty.
        createFolder(target)
        for sub in ("new", "cur"):
            for name in os.listdir(source / sub):
                os.rename(source / sub / name, target / sub / name)
        opened = self.backend.folders.get(source)
        if opened is not None:
            opened.rescan()

    # --- subscriptions (Dovecot's "subscriptions" file, version 2) -----------------------
    def _readSubscriptions(self) -> list[str]:
        path = self.home / "subscriptions"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
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
            folder, recent = opened.folder, len(opened.tracker._unclaimedRecent)
        else:
            folder = Folder(path)
            recent = len(folder.rescan().recent)
        unseen = sum(1 for e in folder.byUid.values() if "\\Seen" not in e.flags)
        return MailboxStatus(len(folder.byUid), recent, folder.uidlist.uidNext,
                             folder.uidlist.uidValidity, unseen)

    def open(self, name: str, readonly: bool):
        def run():
            opened = self.backend.openFolder(self._path(name))
            mailbox = MaildirMailbox(name, opened, self, readonly)
            if not readonly:
                # This session will claim what is \Recent: out of new/, as Dovecot does,
                # so that no other program counts it as recent again.
                opened.folder.moveToCur(sorted(opened.tracker._unclaimedRecent))
            return mailbox
        return defer.maybeDeferred(run)

    def logout(self) -> None:
        pass


@implementer(IMailbox)
class MaildirMailbox:
    permanentFlags = SYSTEM_FLAGS + ("\\*",)

    def __init__(self, name: str, opened: OpenFolder, account: MaildirAccount, readonly: bool):
        self.name, self.readonly, self._account = name, readonly, account
        self._opened = opened
        self._folder = opened.folder
        self.tracker = opened.tracker
        opened.handles += 1
        self._closed = False

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
            uid = self._folder.add(message, flags, internaldate)
            self.tracker.publish(MessagesAdded((uid,)))
            return uid
        return defer.maybeDeferred(run)

    def store(self, uids, flags, mode: str, origin=None):
        def run():
            result, changed = {}, []
            for uid in uids:
                e = self._folder.entry(uid)
                if e is None:
                    continue
                old = e.flags
                new = self._folder.setFlags(uid, applyFlags(old, flags, mode))
                if new is None:
                    continue
                result[uid] = new
                if new != old:
                    changed.append((uid, new))
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
            target = self._account._path(destination)
            opened = self._account.backend.folders.get(target)
            folder = opened.folder if opened is not None else Folder(target)
            pairs = []
            for uid in sorted(uids):
                e = self._folder.entry(uid)
                data = self._folder.read(uid)
                if e is None or data is None:
                    continue
                newUid = folder.add(data, e.flags, self._folder.internalDate(uid))
                pairs.append((uid, newUid))
            if opened is not None and pairs:
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
