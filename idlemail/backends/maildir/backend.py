"""
The Maildir backend: Dovecot-compatible Maildir++ trees under C{<root>/<user>/Maildir},
users from a Dovecot-style passwd-file, and instant push for mail dropped in by any MDA.

Threads: every disk wait runs in the backend's own L{DiskPool} (C{io_threads} threads);
each folder's changes go through its lane, one serial queue per folder (see
L{idlemail.backends.maildir.store} for which thread touches what). Trackers are touched
only on the reactor thread.

Each folder used is indexed once per process (L{Folder}, kept for a while after its
last session leaves, within bounds, so that a SELECT again or a STATUS does not look at
every file again);
each open folder is watched once (L{OpenFolder}), whatever the number of sessions that
have it selected. Changes, by UID, go to the change bus; each open folder's one
L{MailboxTracker} is fed from it (L{idlemail.backends.maildir.bus}).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.backends.maildir.bus import FolderPublisher, closeFeed, mailboxOf, openFeed
from idlemail.backends.maildir.disk import createFolder
from idlemail.backends.maildir.pool import DEFAULT_THREADS, DiskPool
from idlemail.backends.maildir.store import Folder
from idlemail.backends.maildir.uidlist import validityOf
from idlemail.backends.maildir.validity import nextUidValidity
from idlemail.backends.maildir.watch import WatchHub
from idlemail.bus import LocalBus
from idlemail.bus.feed import MailboxPublisher
from idlemail.events import MailboxReset
from idlemail.interfaces import IBackend, ICachedLogin, ICondStoreBackend, INotifyBackend
from idlemail.tracker import MailboxTracker

log = Logger()
# Indexes of folders no session has open are kept, up to so many folders and messages.
KEPT_INDEXES = 32
KEPT_MESSAGES = 200_000
# A folder stays open (watched, its tracker kept) this long after its last session
# leaves, so that APPENDs into a folder nobody has selected (a client's Sent) do not
# open it anew each time; at most so many folders at once (inotify watches are scarce).
LINGER = 60.0
MAX_LINGERING = 64


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


def identityOf(path: Path):
    """In a disk thread: which folder is at C{path} now: C{(device, inode)} of its cur/
    and the UIDVALIDITY its dovecot-uidlist says (None if it has none yet); None if
    there is no folder. (An inode number is soon given to a new directory again: the
    UIDVALIDITY, never given twice, is what tells a folder made again.)"""
    try:
        st = os.stat(path / "cur")
    except OSError:
        return None
    return (st.st_dev, st.st_ino), validityOf(path)


class OpenFolder:
    """
    A folder open in this process: its index, its tracker, its watch and its place on
    the bus. It stays open while a session has it selected or holds a handle on it,
    then lingers (L{MaildirBackend.linger}) before it is closed.
    """

    def __init__(self, backend: "MaildirBackend", folder: Folder, home: Path):
        self.backend, self.folder, self.path = backend, folder, folder.path
        self.tracker: MailboxTracker | None = None
        self.handles = 0
        self.closed = False
        self.lingerCall = None  # set while it stays open with no session
        self._waiting: list[defer.Deferred] = []
        self._failure = None
        self.feed = openFeed(backend.bus, *mailboxOf(home, self.path), folder)
        # Watch first: what changes during the first scan is looked at right after it.
        self.watch = backend.hub.watch(self.path, folder.refresh, folder.rescan, self._gone)
        folder.ownChanges = self.watch.own
        # Which directory this is: another process may delete it and make a new one of
        # that name before any event of it is read here (L{MaildirBackend.openFolder}).
        self.identity = None
        backend.pool.run(identityOf, self.path).addCallbacks(self._identified, lambda _: None)
        # Subscribed before the scan, so that no change of another process slips between.
        self.feed.whenReady().addCallback(
            lambda _: folder.scan(after=self._startTracker)).addErrback(self._failed)

    def whenReady(self) -> defer.Deferred:
        if self.tracker is not None:
            return defer.succeed(self)
        if self._failure is not None:
            return defer.fail(self._failure)
        d = defer.Deferred()
        self._waiting.append(d)
        return d

    def _startTracker(self) -> None:
        folder = self.folder
        # What is in new/ is \Recent; a read-write session that claims it moves it to
        # cur/, as Dovecot does, so that no other program counts it as recent again.
        recent = [e.uid for e in folder.byUid.values() if e.subdir == "new"]
        self.tracker = MailboxTracker(folder.uids(), recent, folder.keywordNames,
                                      folder.highestModseq)
        self.tracker.onClaim = folder.claim
        self.tracker.onEmpty = lambda tracker: self._unused()
        self.feed.tracker = self.tracker
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self)

    def _failed(self, failure) -> None:
        self._failure = failure
        self.close()
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(failure)

    def _identified(self, identity) -> None:
        if self.identity is None and identity is not None:
            self.identity = identity[0]

    def replacedBy(self, now) -> bool:
        """Whether the folder at our path, as L{identityOf} found it, is another one."""
        if now is None:
            return True
        directory, validity = now
        if validity is not None:
            return validity != self.folder.uidValidity
        return directory != self.identity

    def _gone(self) -> None:
        """
        Another process deleted the folder (or moved it away) while it is open here: this
        index and its watch are of directories that are no more. It is forgotten, so the
        next open reads the folder as it is now (a new one of that name: its own
        UIDVALIDITY), and the sessions that have it selected are ended, as they would be
        by the process that deleted it.
        """
        if self.closed or self.backend.folders.get(self.path) is not self:
            return
        tracker = self.tracker
        self.backend.forgetFolder(self.path)
        if tracker is not None:
            tracker.publish(MailboxReset(
                "the mailbox was deleted or renamed by another process; select it again"))

    def rescan(self) -> defer.Deferred:
        """Compare the whole folder with the index now; fires once applied."""
        return self.folder.scan()

    def release(self) -> None:
        self.handles -= 1
        self._unused()

    def _unused(self) -> None:
        """A handle was given back, or the tracker's last session left (its onEmpty)."""
        if self.handles <= 0 and (self.tracker is None or not self.tracker.sessions):
            self.backend.linger(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.backend.lingering.pop(self.path, None)
        if self.lingerCall is not None and self.lingerCall.active():
            self.lingerCall.cancel()
        own = self.watch.own
        self.watch.stop()
        closeFeed(self.feed, self.folder)
        if self.folder.ownChanges is own:
            self.folder.ownChanges = None
        if self.backend.folders.get(self.path) is self:
            del self.backend.folders[self.path]


@implementer(IBackend, ICachedLogin, ICondStoreBackend, INotifyBackend)
class MaildirBackend:
    """
    @param ioThreads: the size of the disk thread pool (C{[server.maildir] io_threads}).
    @param watch: how open folders are watched for other programs' changes
        (C{[server.maildir] watch}): C{"inotify"}, C{"poll"} or C{"none"} (the bus
        alone tells of them: storage shared between hosts). C{useInotify=False} is
        C{"poll"}.
    @param bus: the change bus (L{idlemail.bus.interfaces.IChangeBus}); an in-process
        one if not given (L{useBus} gives the server's).
    """

    def __init__(self, root, passwdFile, reactor=None, pollInterval: float = 2.0,
                 useInotify: bool = True, ioThreads: int = DEFAULT_THREADS,
                 linger: float = LINGER, watch: str = "inotify", bus=None):
        if reactor is None:
            from twisted.internet import reactor
        from idlemail.passwd import PasswdFile
        self.root = Path(root)
        self.passwd = PasswdFile(passwdFile)
        self.reactor = reactor
        self.pool = DiskPool(reactor, ioThreads)
        self.hub = WatchHub(reactor, pollInterval,
                            "poll" if watch == "inotify" and not useInotify else watch)
        self.bus = LocalBus() if bus is None else bus
        # Other processes change this store and we may hear of it late or never (workers,
        # hosts on the bus, no inotify): NOOP and CHECK read the folder first.
        self.sharedStore = self.hub.mode != "inotify" or not isinstance(self.bus, LocalBus)
        self.folders: dict[Path, OpenFolder] = {}
        self.lingering: OrderedDict[Path, OpenFolder] = OrderedDict()
        self.lingerFor = linger
        self.indexes: OrderedDict[Path, Folder] = OrderedDict()
        self._homeLocks: dict[Path, defer.DeferredLock] = {}
        self._homes: set[Path] = set()  # Maildirs known to exist

    def login(self, username: str, password: str):
        if not username or "/" in username or username.startswith("."):
            return defer.fail(UnauthorizedLogin())
        d = self.passwd.checkPassword(username, password)

        def decide(ok):
            if not ok:
                raise UnauthorizedLogin()
            return self.accountFor(username)
        return d.addCallback(decide)

    # --- ICachedLogin: a reconnect storm costs one password check per user -------------
    def credentialsVersion(self):
        return self.passwd.version()

    def accountFor(self, username: str):
        from idlemail.backends.maildir.account import MaildirAccount
        if self.passwd.lookup(username) is None:
            return defer.fail(UnauthorizedLogin())
        home = maildirOf(self.root, username)
        if home in self._homes:
            return defer.succeed(MaildirAccount(self, username, home))

        def made(_):
            self._homes.add(home)
            return MaildirAccount(self, username, home)
        return self.pool.run(_ensureMaildir, self.root, username).addCallback(made)

    def homeLock(self, home: Path) -> defer.DeferredLock:
        """Orders one user's mailbox-level changes (CREATE, DELETE, RENAME, ...)."""
        lock = self._homeLocks.get(home)
        if lock is None:
            lock = self._homeLocks[home] = defer.DeferredLock()
        return lock

    def useBus(self, bus) -> None:
        """Publish through C{bus} (the server's), before any folder is used."""
        self.bus = bus
        self.sharedStore = self.sharedStore or not isinstance(bus, LocalBus)
        for folder in self.indexes.values():
            folder.onChanges.publisher.bus = bus

    def folderAt(self, path: Path, home: Path) -> Folder:
        """The process's index of the folder at C{path} (made on first use)."""
        folder = self.indexes.get(path)
        if folder is None:
            folder = self.indexes[path] = Folder(path, self.pool, self.reactor,
                                                 validityAllocator(home))
            folder.onChanges = FolderPublisher(self.bus, *mailboxOf(home, path), folder)
            self._trim()
        else:
            self.indexes.move_to_end(path)
        return folder

    def _trim(self) -> None:
        idle = [p for p, f in self.indexes.items()  # least recently used first
                if p not in self.folders and not f.busy]
        kept = sum(len(self.indexes[p].byUid) for p in idle)
        for path in idle:
            if len(idle) <= KEPT_INDEXES and kept <= KEPT_MESSAGES:
                break
            kept -= len(self.indexes.pop(path).byUid)
            idle = idle[1:]

    def announce(self, home: Path, path: Path) -> None:
        """Tell every process that has the folder at C{path} open to read it again
        (it was created, deleted or renamed here)."""
        MailboxPublisher(self.bus, *mailboxOf(home, path)).publish(None)

    def forgetFolder(self, path: Path) -> None:
        """The folder is gone (deleted or renamed): drop its index and watch."""
        opened = self.folders.get(path)
        if opened is not None:
            opened.close()
        self.indexes.pop(path, None)

    def openFolder(self, path: Path, home: Path) -> defer.Deferred:
        """Deferred firing with the L{OpenFolder} at C{path} once its tracker is ready.
        Where other processes change the store (L{sharedStore}), one open here already is
        first checked to be of the directory now at C{path}: if another process replaced
        the folder, it is let go and the new one opened. (Alone on the store, the folder's
        file events tell of a replacement: no disk trip is added to every SELECT.)"""
        opened = self.folders.get(path)
        if opened is not None and opened.identity is not None and self.sharedStore:
            def check(now):
                if not opened.closed and opened.replacedBy(now):
                    opened._gone()
                return self._openNow(path, home)
            return self.pool.run(identityOf, path).addCallback(check)
        return self._openNow(path, home)

    def _openNow(self, path: Path, home: Path) -> defer.Deferred:
        opened = self.folders.get(path)
        if opened is None:
            opened = self.folders[path] = OpenFolder(self, self.folderAt(path, home), home)
        elif self.lingering.pop(path, None) is not None:
            opened.lingerCall.cancel()
            opened.lingerCall = None
        return opened.whenReady()

    def linger(self, opened: OpenFolder) -> None:
        """Keep C{opened} (no session has it now) open a while, then close it."""
        if self.lingerFor <= 0 or opened.closed:
            opened.close()
            return
        if opened.lingerCall is not None and opened.lingerCall.active():
            opened.lingerCall.cancel()
        opened.lingerCall = self.reactor.callLater(self.lingerFor, opened.close)
        self.lingering[opened.path] = opened
        self.lingering.move_to_end(opened.path)
        while len(self.lingering) > MAX_LINGERING:
            next(iter(self.lingering.values())).close()

    def close(self):
        for opened in list(self.folders.values()):
            opened.close()
        self.hub.close()
        self.pool.stop()
        return defer.succeed(None)


def _ensureMaildir(root, username: str) -> None:
    home = maildirOf(root, username)
    if not (home / "cur").is_dir():
        createMaildir(root, username)
