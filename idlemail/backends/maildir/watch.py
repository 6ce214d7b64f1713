"""
Change detection for open Maildir folders: inotify on new/ and cur/, one INotify instance
per process and one pair of watches per open folder (shared by all its sessions), with a
stat poll as the fallback when inotify is missing or its limits are exhausted.

C{watch = "none"} watches nothing: on storage shared between hosts, where inotify sees
no other host's writes, the change bus alone tells of them (L{idlemail.bus}).

A file event names one file; the watcher collects the touched bases for the rest of the
reactor turn (so that the two halves of a rename arrive together) and then asks the folder
to compare just those bases: no rescan per event. Events that this process's own changes
cause (announced in L{OwnChanges} by the disk thread making them) are not news and are
dropped, so that a delivery does not cost a second look at the folder.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

from twisted.internet import task
from twisted.logger import Logger
from twisted.python.filepath import FilePath

from idlemail.backends.maildir import flags as F

log = Logger()

try:
    from twisted.internet import inotify
except ImportError:  # not Linux
    inotify = None

_MASK = 0
if inotify is not None:
    _MASK = (inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_MOVED_FROM | inotify.IN_DELETE
             | inotify.IN_CLOSE_WRITE | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF)
    # The watched directory itself went away (the kernel then drops the watch).
    _GONE = inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_IGNORED


class OwnChanges:
    """
    The C{(subdir, name)} of events our own renames and unlinks in a folder's new/ and
    cur/ are about to cause. Thread-safe: disk threads add, the reactor takes.
    """

    LIMIT = 100_000  # a bound, should events ever be lost (queue overflow)

    def __init__(self):
        self._names: Counter = Counter()
        self._guard = threading.Lock()

    def expect(self, *where) -> None:
        with self._guard:
            if len(self._names) > self.LIMIT:
                self._names.clear()
            self._names.update(where)

    def cancel(self, *where) -> None:
        with self._guard:
            self._names.subtract(where)
            self._names += Counter()  # drop what fell to zero

    def take(self, where) -> bool:
        """True (and forgotten) if the event at C{where} is one of ours."""
        with self._guard:
            if self._names[where] > 0:
                self._names[where] -= 1
                if not self._names[where]:
                    del self._names[where]
                return True
            self._names.pop(where, None)
            return False

    def clear(self) -> None:
        with self._guard:
            self._names.clear()


class FolderWatch:
    """
    Calls C{onBases(set_of_bases)} or C{onRescan()} when files of a folder change, and
    C{onGone()} (once) if its new/ or cur/ is deleted or moved away by someone else: the
    watch ends with the directory, so the folder must be opened again to be followed.

    @ivar own: the L{OwnChanges} to announce our changes in, or None when polling
        (no events to drop).
    """

    def __init__(self, hub: "WatchHub", path, onBases, onRescan, onGone=None):
        self.hub, self.path, self.onBases, self.onRescan = hub, path, onBases, onRescan
        self.onGone = onGone
        self.stopped = False
        self.pending: set[str] = set()
        self.flushCall = None
        self.poller = None
        self.watched: list[FilePath] = []
        self.own: OwnChanges | None = None

    def start(self) -> None:
        if self.hub.mode == "none":
            return
        if self.hub.notifier() is not None:
            try:
                for sub in ("new", "cur"):
                    fp = FilePath(str(self.path / sub))
                    self.hub.notifier().watch(fp, _MASK, callbacks=[self._event])
                    self.watched.append(fp)
                self.own = OwnChanges()
                return
            except Exception as e:  # ENOSPC: max_user_watches reached
                self.hub.warnOnce(f"cannot watch {self.path} with inotify ({e})")
                self._unwatch()
        self.poller = task.LoopingCall(self.onRescan)
        self.poller.clock = self.hub.reactor
        self.poller.start(self.hub.pollInterval, now=False)

    def _unwatch(self) -> None:
        for fp in self.watched:
            try:
                self.hub.notifier().ignore(fp)
            except (KeyError, Exception):
                pass
        self.watched = []

    def stop(self) -> None:
        self.stopped = True  # the IN_IGNORED our own unwatching brings is not news
        self._unwatch()
        self.own = None
        if self.poller is not None and self.poller.running:
            self.poller.stop()
        if self.flushCall is not None and self.flushCall.active():
            self.flushCall.cancel()

    def _event(self, _watch, filepath, mask) -> None:
        if self.stopped:
            return
        if inotify is not None and mask & _GONE and _pathOf(filepath) in {
                _pathOf(fp) for fp in self.watched}:
            onGone, self.onGone = self.onGone, None
            if onGone is not None:
                self.hub.reactor.callLater(0, onGone)
            return
        if inotify is not None and mask & inotify.IN_Q_OVERFLOW:
            if self.own is not None:
                self.own.clear()
            self.onRescan()
            return
        name = filepath.basename()
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        if name.startswith("."):
            return
        if self.own is not None:
            subdir = filepath.parent().basename()
            if isinstance(subdir, bytes):
                subdir = os.fsdecode(subdir)
            if self.own.take((subdir, name)):
                return
        self.pending.add(F.split(name)[0])
        if self.flushCall is None or not self.flushCall.active():
            self.flushCall = self.hub.reactor.callLater(0, self._flush)

    def _flush(self) -> None:
        bases, self.pending = self.pending, set()
        if bases:
            self.onBases(bases)


def _pathOf(filepath) -> str:
    # inotify hands back bytes paths; ours were made from str
    path = filepath.path
    return os.fsdecode(path) if isinstance(path, bytes) else path


MODES = ("inotify", "poll", "none")


class WatchHub:
    """
    The process's one inotify instance (inotify instances are a scarce per-user limit).

    @param mode: C{"inotify"} (polling where inotify is missing or exhausted),
        C{"poll"} (a full look every C{pollInterval}) or C{"none"}.
    """

    def __init__(self, reactor, pollInterval: float = 2.0, mode: str = "inotify"):
        if mode not in MODES:
            raise ValueError(f"watch mode {mode!r} (use {', '.join(MODES)})")
        self.reactor, self.pollInterval, self.mode = reactor, pollInterval, mode
        self.useInotify = mode == "inotify" and inotify is not None
        self._notifier = None
        self._failed = False
        self._warned: set[str] = set()

    def notifier(self):
        if not self.useInotify or self._failed:
            return None
        if self._notifier is None:
            try:
                self._notifier = inotify.INotify(self.reactor)
                self._notifier.startReading()
            except Exception as e:  # EMFILE: max_user_instances reached
                self._failed = True
                self.warnOnce(f"inotify is unavailable ({e})")
                return None
        return self._notifier

    def warnOnce(self, what: str) -> None:
        key = what.split(" (")[0]
        if key in self._warned:
            return
        self._warned.add(key)
        log.warn("{what}; polling every {interval} s instead. Remedy: raise "
                 "fs.inotify.max_user_instances / fs.inotify.max_user_watches "
                 "(sysctl -w fs.inotify.max_user_watches=524288)",
                 what=what, interval=self.pollInterval)

    def watch(self, path, onBases, onRescan, onGone=None) -> FolderWatch:
        w = FolderWatch(self, path, onBases, onRescan, onGone)
        w.start()
        return w

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.loseConnection()
            self._notifier = None
