"""
The Maildir backend on the change bus (L{idlemail.bus}): the two ends one folder has.

Publishing: every folder index has a L{FolderPublisher} (its C{onChanges}). What a
session's command changed, and what the watcher saw, goes on the bus, for every process
that has the folder open; what was read from the store to catch up (a scan, or another
process's change that its envelope named) goes to this process's tracker only, since
whoever made that change told everyone already.

Receiving: each folder open here has a L{TrackerFeed} (L{openFeed}). Our own changes reach
its tracker as they are; another process's envelope names UIDs, and the folder's lane
reads just those again (their files, and the uidlist for UIDs new to us) and tells the
tracker what differs, so that a repeated, late or reordered envelope changes nothing.
A gap, a new UIDVALIDITY, a "re-read" envelope or a bus that was cut off rescan the folder.
"""

from __future__ import annotations

from pathlib import Path

from idlemail.backends.maildir.index import CAUGHT_UP, WATCHED, Changes
from idlemail.backends.maildir.names import nameOf
from idlemail.bus.feed import MailboxPublisher, TrackerFeed, uidsNamed
from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged


def mailboxOf(home: Path, path: Path) -> tuple[str, str]:
    """C{(user, mailbox)} of the folder at C{path} of the Maildir C{home}
    (C{<root>/<user>/Maildir}): the names every process gives it on the bus."""
    return home.parent.name, "INBOX" if path == home else (nameOf(path.name) or path.name)


class FolderPublisher:
    """
    A folder index's C{onChanges}: its changes as events, on the bus or to this
    process's tracker (see the module's docstring).

    @ivar feed: the L{TrackerFeed} of the folder while it is open here, or None.
    """

    __slots__ = ("folder", "publisher", "feed", "_keywordsTold")

    def __init__(self, bus, user: str, mailbox: str, folder):
        self.folder, self.publisher = folder, MailboxPublisher(bus, user, mailbox)
        self.feed: TrackerFeed | None = None
        self._keywordsTold = 0

    def __call__(self, changes: Changes, origin) -> None:
        if origin is CAUGHT_UP:
            feed = self.feed
            if feed is not None and feed.tracker is not None:
                feed.apply(self._events(changes))
            return  # else: a tracker still to be built starts from the index
        session = None if origin is WATCHED else origin
        uidValidity, publish = self.folder.uidValidity, self.publisher.publish
        for event in self._events(changes):
            publish(event, uidValidity, session)

    def _events(self, changes: Changes) -> list:
        events = []
        # Keywords first, so that sessions know a flag before a change uses it (RFC 3501
        # 7.2.6); all of them, as the tracker (and any other process) keeps each once.
        known = self.folder.keywordNames
        if len(known) != self._keywordsTold:
            self._keywordsTold = len(known)
            events.append(KeywordsAdded(tuple(known)))
        # One event per MODSEQ (RFC 7162): a look may find changes other processes made,
        # each with its own.
        modseqs = changes.modseqs
        for uids, modseq in _byModseq(changes.expunged, modseqs):
            events.append(MessagesExpunged(tuple(uids), modseq))
        for uids, modseq in _byModseq(changes.added, modseqs):
            events.append(MessagesAdded(tuple(uids), modseq))
        for pairs, modseq in _byModseq(changes.flags, modseqs, key=lambda p: p[0]):
            events.append(FlagsChanged(tuple(pairs), modseq))
        return events


def _byModseq(items, modseqs: dict, key=lambda uid: uid):
    """C{items} (ascending) in groups of one MODSEQ, lowest MODSEQ first."""
    groups: dict[int, list] = {}
    for item in items:
        groups.setdefault(modseqs.get(key(item), 0), []).append(item)
    return [(groups[m], m) for m in sorted(groups)]


def openFeed(bus, user: str, mailbox: str, folder) -> TrackerFeed:
    """A subscribed feed for the folder, which re-reads what another process changed."""
    def lookAgain(envelope) -> None:
        uids = uidsNamed(envelope.change)
        if uids is None:
            folder.rescan(CAUGHT_UP)
        elif uids:
            folder.refresh(uids=uids, origin=CAUGHT_UP)
    feed = TrackerFeed(bus, user, mailbox, lookAgain, lambda: folder.rescan(CAUGHT_UP))
    folder.onChanges.feed = feed
    return feed


def closeFeed(feed: TrackerFeed, folder) -> None:
    feed.unsubscribe()
    if folder.onChanges is not None and folder.onChanges.feed is feed:
        folder.onChanges.feed = None
