"""
The in-memory backend: the reference implementation of L{idlemail.interfaces}.

Everything lives in dicts and answers at once (already-fired Deferreds). It serves
demos, tests, and the conformance suite's own check of itself.

Every change is published to the change bus (L{idlemail.bus}); each mailbox's tracker is
fed from it for as long as an account holds the mailbox. Its mail lives in this process
only, so no other process's envelope ever names anything here to read again.

MODSEQs (RFC 7162): each mailbox counts its changes from 1; a change (one APPEND, STORE or
EXPUNGE) takes the next number for every message it touches, and the expunged UIDs are
kept with theirs (bounded, L{ExpungedUids}) for QRESYNC.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from zope.interface import implementer

from idlemail.bus import LocalBus
from idlemail.bus.feed import MailboxPublisher, TrackerFeed
from idlemail.errors import IMAPError, MailboxExists, NoSuchMailbox
from idlemail.backends.vanished import ExpungedUids
from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged
from idlemail.interfaces import (
    IAccount,
    IBackend,
    IBodyStreams,
    ICachedLogin,
    ICondStoreBackend,
    IMailbox,
    IModSeqMailbox,
    INotifyBackend,
    ISpecialUseAccount,
)
from idlemail.records import (
    SYSTEM_FLAGS,
    KeywordSpellings,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    applyFlags,
)
from idlemail.tracker import MailboxTracker

_validities = itertools.count(int(time.time()))
#: RFC 6154 2: \All and \Flagged are views, never a mailbox one creates.
_CREATABLE_USES = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")
DELETED = "\\Deleted"


def _crlf(message: bytes) -> bytes:
    """Store CRLF line ends, as RFC822.SIZE counts them (RFC 3501 2.3.4)."""
    if b"\n" not in message.replace(b"\r\n", b""):
        return message
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass(slots=True)
class _Message:
    body: bytes
    flags: frozenset[str]
    internaldate: datetime
    modseq: int = 0


@dataclass
class _Store:
    """One mailbox's contents, shared by every session that opens it."""

    # Strictly increasing for the process's life, so a mailbox deleted and created
    # again never has its old UIDVALIDITY (RFC 3501 2.3.1.1).
    uidValidity: int = field(default_factory=lambda: next(_validities))
    uidNext: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)
    keywords: KeywordSpellings = field(default_factory=KeywordSpellings)
    # HIGHESTMODSEQ starts at 1 (RFC 7162: a mod-sequence is a positive number).
    tracker: MailboxTracker = field(default_factory=lambda: MailboxTracker(highestModseq=1))
    highestModseq: int = 1
    expunged: ExpungedUids = field(default_factory=ExpungedUids)
    # Set while an account holds the mailbox (L{_User.place}).
    publisher: MailboxPublisher | None = None
    feed: TrackerFeed | None = None

    def publish(self, change, origin=None) -> None:
        if self.publisher is None:  # deleted: only the sessions still on it can hear
            self.tracker.publish(change, origin)
        else:
            self.publisher.publish(change, self.uidValidity, origin)

    def canonical(self, flags, register: bool = True) -> frozenset[str]:
        """C{flags} in this mailbox's spelling; new keywords are published first."""
        flags, new = self.keywords.canonical(flags, register)
        if new:
            self.publish(KeywordsAdded(tuple(new)))
        return flags

    def add(self, body: bytes, flags, internaldate) -> int:
        flags = self.canonical(flags)
        uid = self.uidNext
        self.uidNext += 1
        modseq = self.nextModseq()
        self.messages[uid] = _Message(_crlf(body), flags, internaldate, modseq)
        self.publish(MessagesAdded((uid,), modseq))
        return uid

    def nextModseq(self) -> int:
        self.highestModseq += 1
        return self.highestModseq

    def remove(self, uids, origin=None) -> None:
        """Expunge these (existing) UIDs, with one MODSEQ."""
        if not uids:
            return
        modseq = self.nextModseq()
        for uid in uids:
            del self.messages[uid]
        self.expunged.add(uids, modseq)
        self.publish(MessagesExpunged(tuple(uids), modseq), origin)


def _nothingToRead(*args) -> None:
    """Another process's envelope, or a resync: this process's memory is the whole store."""


class _User:
    """One user's mailboxes by name, each subscribed on the bus while held here."""

    def __init__(self, name: str, password: str, bus):
        self.name, self.password, self.bus = name, password, bus
        self.mailboxes: dict[str, _Store] = {}
        self.subscriptions: set[str] = set()
        self.specialUse: dict[str, tuple[str, ...]] = {}  # RFC 6154
        self.place("INBOX", _Store())

    def place(self, name: str, store: _Store) -> _Store:
        store.publisher = MailboxPublisher(self.bus, self.name, name)
        store.feed = TrackerFeed(self.bus, self.name, name, _nothingToRead, _nothingToRead,
                                 store.uidValidity)
        store.feed.tracker = store.tracker
        self.mailboxes[name] = store
        return store

    def remove(self, name: str) -> _Store:
        store = self.mailboxes.pop(name)
        store.feed.unsubscribe()
        store.publisher = store.feed = None
        return store

    def useBus(self, bus) -> None:
        self.bus = bus
        for name in list(self.mailboxes):
            self.place(name, self.remove(name))


@implementer(IBackend, ICachedLogin, ICondStoreBackend, INotifyBackend)
class MemoryBackend:
    """
    @param users: user name -> password.
    """

    delimiter = "/"

    def __init__(self, users: dict[str, str] | None = None, bus=None):
        self.bus = LocalBus() if bus is None else bus
        self.users: dict[str, _User] = {}
        self._credentials = 0  # bumped by every change of a password
        for name, password in (users or {}).items():
            self.addUser(name, password)

    def addUser(self, name: str, password: str) -> None:
        self.users[name] = _User(name, password, self.bus)
        self._credentials += 1

    def useBus(self, bus) -> None:
        """Publish through C{bus} (the server's) from now on."""
        self.bus = bus
        for user in self.users.values():
            user.useBus(bus)

    def setPassword(self, name: str, password: str) -> None:
        """Change a user's password, keeping the mailboxes."""
        self.users[name].password = password
        self._credentials += 1

    def login(self, username: str, password: str):
        user = self.users.get(username)
        if user is None or user.password != password:
            return defer.fail(UnauthorizedLogin())
        return defer.succeed(MemoryAccount(username, user))

    def credentialsVersion(self) -> int:
        return self._credentials

    def accountFor(self, username: str):
        user = self.users.get(username)
        if user is None:
            return defer.fail(UnauthorizedLogin())
        return defer.succeed(MemoryAccount(username, user))

    def close(self):
        return defer.succeed(None)

    def deliver(self, username: str, message: bytes, mailbox: str = "INBOX",
                flags=()) -> int:
        """Drop a message in, as an MDA would (for tests and demos)."""
        return self.users[username].mailboxes[mailbox].add(
            message, flags, datetime.now(timezone.utc))


@implementer(IAccount, ISpecialUseAccount)
class MemoryAccount:
    delimiter = "/"

    def __init__(self, username: str, user: _User):
        self.username = username
        self._user = user

    def _store(self, name: str) -> _Store:
        store = self._user.mailboxes.get(name)
        if store is None:
            raise NoSuchMailbox(name)
        return store

    def listMailboxes(self):
        uses = self._user.specialUse
        return defer.succeed([MailboxInfo(name, uses.get(name, ()))
                              for name in sorted(self._user.mailboxes)])

    def create(self, name: str):
        return defer.maybeDeferred(self._create, name)

    def _create(self, name: str) -> None:
        if name in self._user.mailboxes:
            raise MailboxExists(name)
        parts = name.split(self.delimiter)
        if any(not p for p in parts):
            raise IMAPError(f"Invalid mailbox name: {name}", "CANNOT")
        self._parents(parts)
        self._user.place(name, _Store())

    def _parents(self, parts) -> None:
        for i in range(1, len(parts)):
            parent = self.delimiter.join(parts[:i])
            if parent not in self._user.mailboxes:
                self._user.place(parent, _Store())

    def createSpecialUse(self, name: str, uses):
        def create():
            if any(use not in _CREATABLE_USES for use in uses):
                raise IMAPError("Cannot create a mailbox with that special use", "USEATTR")
            self._create(name)
            self._user.specialUse[name] = tuple(uses)
        return defer.maybeDeferred(create)

    def delete(self, name: str):
        return defer.maybeDeferred(self._delete, name)

    def _delete(self, name: str) -> None:
        self._store(name)
        self._user.remove(name)
        self._user.specialUse.pop(name, None)

    def rename(self, oldName: str, newName: str):
        return defer.maybeDeferred(self._rename, oldName, newName)

    def _rename(self, old: str, new: str) -> None:
        store = self._store(old)
        if new in self._user.mailboxes:
            raise MailboxExists(new)
        if new.startswith(old + self.delimiter):
            raise IMAPError("Cannot move a mailbox into itself", "CANNOT")
        if old == "INBOX":
            # RFC 3501 6.3.5: the messages move; INBOX stays, empty.
            moved = self._user.place(new, _Store())
            for message in store.messages.values():
                moved.add(message.body, message.flags, message.internaldate)
            store.remove(sorted(store.messages))
            return
        mailboxes, uses = self._user.mailboxes, self._user.specialUse
        for name in [n for n in mailboxes if n == old or n.startswith(old + self.delimiter)]:
            self._user.place(new + name[len(old):], self._user.remove(name))
            if name in uses:
                uses[new + name[len(old):]] = uses.pop(name)
        self._parents(new.split(self.delimiter))

    def subscribe(self, name: str):
        self._user.subscriptions.add(name)
        return defer.succeed(None)

    def unsubscribe(self, name: str):
        self._user.subscriptions.discard(name)
        return defer.succeed(None)

    def subscriptions(self):
        return defer.succeed(sorted(self._user.subscriptions))

    def status(self, name: str):
        return defer.maybeDeferred(self._status, name)

    def _status(self, name: str) -> MailboxStatus:
        store = self._store(name)
        unseen = sum(1 for m in store.messages.values() if "\\Seen" not in m.flags)
        return MailboxStatus(len(store.messages), store.tracker.recentCount,
                             store.uidNext, store.uidValidity, unseen, store.highestModseq)

    def open(self, name: str, readonly: bool):
        return defer.maybeDeferred(lambda: MemoryMailbox(name, self._store(name), self, readonly))

    def logout(self) -> None:
        pass


class _BodyReader:
    """A stored message read in pieces (L{IBodyStreams})."""

    __slots__ = ("size", "_data", "_offset")

    def __init__(self, data: bytes):
        self.size, self._data, self._offset = len(data), data, 0

    def read(self, n: int):
        start = self._offset
        self._offset = min(start + n, self.size)
        return defer.succeed(self._data[start:self._offset])

    def close(self) -> None:
        self._data, self._offset = b"", self.size


@implementer(IMailbox, IBodyStreams, IModSeqMailbox)
class MemoryMailbox:
    permanentFlags = SYSTEM_FLAGS + ("\\*",)

    def __init__(self, name: str, store: _Store, account: MemoryAccount, readonly: bool):
        self.name = name
        self.readonly = readonly
        self._store = store
        self._account = account
        self.tracker = store.tracker

    @property
    def uidValidity(self) -> int:
        return self._store.uidValidity

    @property
    def uidNext(self) -> int:
        return self._store.uidNext

    def messages(self, uids):
        found = self._store.messages
        return defer.succeed([
            MessageInfo(uid, m.flags, m.internaldate, len(m.body))
            for uid in uids if (m := found.get(uid)) is not None])

    def flags(self, uids):
        found = self._store.messages
        return defer.succeed({uid: m.flags for uid in uids if (m := found.get(uid)) is not None})

    def body(self, uid: int):
        m = self._store.messages.get(uid)
        return defer.succeed(None if m is None else m.body)

    def openBody(self, uid: int):
        m = self._store.messages.get(uid)
        return defer.succeed(None if m is None else _BodyReader(m.body))

    def append(self, message: bytes, flags, internaldate):
        when = internaldate or datetime.now(timezone.utc)
        return defer.succeed(self._store.add(message, flags, when))

    def store(self, uids, flags, mode: str, origin=None):
        return defer.succeed(self._change(uids, flags, mode, None, origin)[0])

    def storeUnchangedSince(self, uids, flags, mode: str, unchangedSince: int, origin=None):
        return defer.succeed(self._change(uids, flags, mode, unchangedSince, origin))

    def _change(self, uids, flags, mode, unchangedSince, origin):
        store = self._store
        flags = store.canonical(flags, register=mode != "-")
        result, changed, modified = {}, [], []
        for uid in uids:
            m = store.messages.get(uid)
            if m is None:
                continue
            if unchangedSince is not None and m.modseq > unchangedSince:
                modified.append(uid)  # RFC 7162 3.1.3: changed since; left alone
                continue
            new = applyFlags(m.flags, flags, mode)
            if new != m.flags:
                m.flags = new
                changed.append((uid, new))
            result[uid] = new
        if changed:
            modseq = store.nextModseq()
            for uid, _ in changed:
                store.messages[uid].modseq = modseq
            store.publish(FlagsChanged(tuple(changed), modseq), origin)
        return result, modified

    def modseqs(self, uids):
        found = self._store.messages
        return defer.succeed({uid: m.modseq for uid in uids
                              if (m := found.get(uid)) is not None})

    def expungedSince(self, modseq: int):
        return defer.succeed(self._store.expunged.since(modseq))

    def expunge(self, uids=None, origin=None):
        messages = self._store.messages
        candidates = sorted(messages) if uids is None else sorted(set(uids) & set(messages))
        gone = [uid for uid in candidates if DELETED in messages[uid].flags]
        self._store.remove(gone, origin)
        return defer.succeed(gone)

    def copy(self, uids, destination: str, move: bool = False, origin=None):
        return defer.maybeDeferred(self._copy, uids, destination, move, origin)

    def _copy(self, uids, destination, move, origin):
        target = self._account._store(destination)
        pairs = []
        for uid in sorted(uids):
            m = self._store.messages.get(uid)
            if m is not None:
                pairs.append((uid, target.add(m.body, m.flags, m.internaldate)))
        if move and pairs:
            self._store.remove([u for u, _ in pairs], origin)
        return (target.uidValidity, pairs)

    def close(self) -> None:
        pass
