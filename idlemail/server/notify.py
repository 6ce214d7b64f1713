"""
NOTIFY (RFC 5465): the client listens all the time, for the mailboxes it names.

- The selected mailbox (SELECTED, SELECTED-DELAYED): its changes go out as IDLE's do,
  but whenever no command is in progress, not only while idling; with SELECTED, expunges
  too (SELECTED-DELAYED keeps them for a command that allows them, RFC 3501 7.4.1);
  MessageNew's fetch attributes are answered for each new message (a FETCH the server
  runs as if it were a command, so that a command sent meanwhile waits for it). Without
  a SELECTED filter the client asked for none of them (RFC 5465 3.1), and gets none.
- Other mailboxes (INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES): a STATUS response
  when one changes (RFC 5465 5.2-5.4), made once per change of a mailbox however many
  sessions watch it. Each is opened once per user and process (L{MailboxWatch}, shared
  by every NOTIFY session of that user), and told of changes by its tracker
  (C{MailboxTracker.watchers}): the same tracker events an idler gets, so a session with
  NOTIFY set costs about what an idler costs. A session may watch at most
  C{notifyMaxMailboxes} mailboxes (NO [LIMIT] beyond).
- MailboxName and SubscriptionChange: LIST responses (RFC 5465 5.4, 5.5) when another
  session of the same user in this process creates, deletes, renames, subscribes or
  unsubscribes a mailbox the filters name.

When: while a command is in progress nothing is sent (the command's own responses must
not be interleaved); what changed meanwhile goes out right after it, before its tagged
response, and at once when no command is in progress or while idling (RFC 5465 3.1, 4).
A client that reads nothing is not written to: its STATUS pushes wait, one per mailbox
however many changes, until it has read what it was sent.

A mailbox matched by several filters gets the events of the first (so that
C{(MAILBOXES Trash NONE) (PERSONAL (MessageNew MessageExpunge))} leaves Trash out).
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from idlemail.errors import BadRequest, IMAPError
from idlemail.events import FlagsChanged, MessagesAdded, MessagesExpunged
from idlemail.interfaces import INotifyBackend
from idlemail.server import condstore
from idlemail.server.names import decodeName, encodeName
from idlemail.server.registry import AUTHED, command

log = Logger()

NEW, EXPUNGE, FLAGS = 1, 2, 4
_MASKS = {"MessageNew": NEW, "MessageExpunge": EXPUNGE, "FlagChange": FLAGS}
SUPPORTED = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName",
             "SubscriptionChange")
_SELECTED = ("SELECTED", "SELECTED-DELAYED")
#: LIST responses held for a client that reads nothing, before NOTIFY is turned off.
MAX_HELD_LINES = 1000


class MailboxWatch:
    """
    One mailbox of one user, opened once for every NOTIFY session that watches it (not
    selected: its tracker tells it of changes); its STATUS is made once per change.
    """

    __slots__ = ("key", "name", "mailbox", "tracker", "sessions", "memo", "memoVersion")

    def __init__(self, key, name: str, mailbox):
        self.key, self.name, self.mailbox = key, name, mailbox
        self.tracker = mailbox.tracker
        self.sessions: dict[NotifySet, int] = {}  # -> the events it wants (mask)
        self.memo, self.memoVersion = None, -1

    def mailboxChanged(self, tracker, event) -> None:
        kind = (NEW if isinstance(event, MessagesAdded) else
                EXPUNGE if isinstance(event, MessagesExpunged) else
                FLAGS if isinstance(event, FlagsChanged) else NEW | EXPUNGE | FLAGS)
        for watcher, wanted in list(self.sessions.items()):
            if wanted & kind:
                watcher.changed(self, kind)


class WatchRegistry:
    """The factory's watched mailboxes, by (user, name), and the NOTIFY sessions by user."""

    def __init__(self):
        self.watches: dict[tuple[str, str], MailboxWatch] = {}
        self.byUser: dict[str, set[NotifySet]] = {}
        self._opening: dict[tuple[str, str], defer.Deferred] = {}

    async def watch(self, session, name: str) -> MailboxWatch | None:
        """The watch of C{name} for C{session}'s user (opened if it is the first); None
        if it cannot be opened (gone meanwhile)."""
        key = (session.user, name)
        found = self.watches.get(key)
        if found is not None:
            return found
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = defer.ensureDeferred(self._open(session, key))
            opening.addBoth(self._opened, key)
        waiting = defer.Deferred()
        opening.addBoth(lambda result: (waiting.callback(result), result)[1])
        return await waiting

    async def _open(self, session, key) -> MailboxWatch | None:
        try:
            mailbox = await session.account.open(key[1], True)
        except IMAPError:
            return None
        watch = MailboxWatch(key, key[1], mailbox)
        self.watches[key] = watch
        mailbox.tracker.watchers.append(watch)
        return watch

    def _opened(self, result, key):
        self._opening.pop(key, None)
        return result

    def unwatch(self, watch: MailboxWatch, watcher) -> None:
        watch.sessions.pop(watcher, None)
        if watch.sessions or self.watches.get(watch.key) is not watch:
            return
        del self.watches[watch.key]
        try:
            watch.tracker.watchers.remove(watch)
        except ValueError:
            pass
        watch.mailbox.close()

    def sessionsOf(self, user: str):
        return self.byUser.get(user, ())


def _matcher(group, delimiter: str, subscribed):
    """A predicate on mailbox names for one event group's filter."""
    kind = group.filter
    if kind == "PERSONAL":
        return lambda name: True
    if kind == "INBOXES":  # what an MDA delivers to, as far as we can know: INBOX
        return lambda name: name == "INBOX"
    if kind == "SUBSCRIBED":
        return lambda name: name in subscribed
    names = [decodeName(raw, delimiter) for raw in group.mailboxes]
    if kind == "MAILBOXES":
        return lambda name: name in names
    return lambda name: any(name == n or name.startswith(n + delimiter) for n in names)


class NotifySet:
    """What one session asked NOTIFY for, and what it has not been told yet."""

    __slots__ = ("session", "selectedCounts", "selectedFlags", "immediateExpunges", "fetch",
                 "groups", "watches", "pending", "held", "newFrom", "_fetchView")

    def __init__(self, session, args):
        self.session = session
        selected = next((g for g in args.groups if g.filter in _SELECTED), None)
        events = set(selected.events) if selected is not None else set()
        self.selectedCounts = "MessageNew" in events
        self.selectedFlags = "FlagChange" in events
        self.immediateExpunges = self.selectedCounts and selected.filter == "SELECTED"
        self.fetch = tuple(selected.fetch) if selected is not None else ()
        self.groups = []  # (matcher, events) of the other filters, in order
        # (Made when first needed: a NOTIFY session should cost about what an idler does.)
        self.watches: dict[str, MailboxWatch] = {}  # (the events: watch.sessions[self])
        self.pending: dict[MailboxWatch, int] | None = None  # changed since told: kinds
        self.held: list[bytes] | None = None  # LIST responses not sent yet
        self.newFrom = None  # MessageNew FETCH to run: the UID after which they are new
        self._fetchView = None

    # --- what a mailbox matches ---------------------------------------------------------
    def eventsFor(self, name: str) -> tuple[str, ...]:
        for matches, events in self.groups:
            if matches(name):
                return events
        return ()

    # --- being told ---------------------------------------------------------------------
    def changed(self, watch: MailboxWatch, kind: int) -> None:
        if self.pending is None:
            self.pending = {}
        self.pending[watch] = self.pending.get(watch, 0) | kind
        self.wake()

    def wake(self) -> None:
        if not self.session._busy:  # idling, or no command in progress
            self.flush()

    def hold(self, line: bytes) -> None:
        if self.held is None:
            self.held = []
        if len(self.held) >= MAX_HELD_LINES:
            self.overflow()
            return
        self.held.append(line)
        self.wake()

    def overflow(self) -> None:
        """RFC 5465 3.1: the server cannot keep up; NOTIFY is off from now on."""
        session = self.session
        self.stop()
        session.notify = None
        session.untagged(b"OK [NOTIFICATIONOVERFLOW] Too many events; NOTIFY is off")

    def flush(self) -> None:
        """Send what may be sent now: LIST responses, then a STATUS per changed mailbox
        (not the selected one, which is told otherwise)."""
        session = self.session
        if session._outputFull or session.notify is not self:
            return  # the client is behind: it is told once it has read (caughtUp)
        lines, self.held = self.held or [], None
        selected = session.mailbox.name if session.mailbox is not None else None
        for watch, kinds in list((self.pending or {}).items()):
            if watch.name == selected:
                del self.pending[watch]
                continue
            status = self._status(watch)
            if status is None:
                continue  # being read: flushed again when it is there
            del self.pending[watch]
            if status is not False:
                lines.append(self._statusLine(watch, status, kinds))
        if lines:
            session.write(b"".join(b"* " + line + b"\r\n" for line in lines))

    def _status(self, watch: MailboxWatch):
        """The watched mailbox's STATUS figures now; None while they are being read,
        False if it is gone."""
        version = watch.tracker.version
        if watch.memoVersion == version:
            return watch.memo
        got: list = []
        d = self.session.account.status(watch.name)
        d.addCallbacks(got.append, lambda failure: got.append(False))
        if not got:
            d.addBoth(lambda _: self.wake())
            return None
        if got[0] is not False:
            watch.memo, watch.memoVersion = got[0], version
        return got[0]

    def _statusLine(self, watch: MailboxWatch, status, kinds: int) -> bytes:
        items = []
        if kinds & (NEW | EXPUNGE):
            items += [b"MESSAGES %d" % status.messages, b"UIDNEXT %d" % status.uidnext]
        items += [b"UIDVALIDITY %d" % status.uidvalidity, b"UNSEEN %d" % status.unseen]
        if self._modseqs(watch):
            items.append(b"HIGHESTMODSEQ %d" % status.highestmodseq)
        return b"STATUS " + encodeName(watch.name) + b" (" + b" ".join(items) + b")"

    def _modseqs(self, watch: MailboxWatch) -> bool:
        # RFC 5465 3.1: with FlagChange, and CONDSTORE offered; or CONDSTORE enabled.
        wanted = watch.sessions.get(self, 0)
        return self.session.condstore or (bool(wanted & FLAGS) and
                                          condstore.offered(self.session))

    # --- MessageNew's fetch attributes for the selected mailbox ------------------------
    def newMessages(self, knownBefore: int) -> None:
        """The session was just told of messages above UID C{knownBefore}."""
        if self.newFrom is None or self._fetchView is not self.session.view:
            self.newFrom, self._fetchView = knownBefore, self.session.view

    def fetchDue(self) -> bool:
        return self.newFrom is not None

    async def fetchNew(self) -> None:
        from idlemail.server.fetch import writeMessages
        session = self.session
        view, after = self._fetchView, self.newFrom
        self.newFrom = self._fetchView = None
        if view is None or view is not session.view:
            return  # another mailbox is selected now
        uids = view.uidsInView(after + 1)
        infos = await session.mailbox.messages(uids) if uids else []
        if infos and view is session.view:
            await writeMessages(session, list(self.fetch), infos)

    # --- life ---------------------------------------------------------------------------
    def follow(self, name: str, oldName: str | None, deleted: bool) -> None:
        """The mailbox list changed: stop watching what is gone, watch what is new."""
        registry = self.session.factory.notifyWatches
        for gone in ((name,) if deleted else ()) + ((oldName,) if oldName else ()):
            watched = self.watches.pop(gone, None)
            if watched is not None:
                if self.pending:
                    self.pending.pop(watched, None)
                registry.unwatch(watched, self)
        if not deleted:
            defer.ensureDeferred(self.watch(name)).addErrback(
                lambda f: log.failure("Watching {name} for NOTIFY failed", f, name=name))

    async def watch(self, name: str) -> None:
        mask = 0
        for event in self.eventsFor(name):
            mask |= _MASKS.get(event, 0)
        factory = self.session.factory
        if not mask or name in self.watches or len(self.watches) >= factory.notifyMaxMailboxes:
            return
        watch = await factory.notifyWatches.watch(self.session, name)
        if watch is None or self.session.notify is not self or name in self.watches:
            if watch is not None and not watch.sessions:
                factory.notifyWatches.unwatch(watch, self)
            return
        watch.sessions[self] = mask
        self.watches[name] = watch

    def stop(self) -> None:
        registry = self.session.factory.notifyWatches
        for watch in self.watches.values():
            registry.unwatch(watch, self)
        self.watches.clear()
        self.pending = self.held = None
        users = registry.byUser.get(self.session.user)
        if users is not None:
            users.discard(self)
            if not users:
                del registry.byUser[self.session.user]


def _check(args) -> None:
    """RFC 5465 3.1, 5: the rules of an event list (BAD), then what we support (NO)."""
    if sum(g.filter in _SELECTED for g in args.groups) > 1:
        raise BadRequest("At most one SELECTED or SELECTED-DELAYED filter")
    unsupported = []
    for group in args.groups:
        events = set(group.events)
        if len(events) != len(group.events):
            raise BadRequest("An event is named twice")
        if ("MessageNew" in events) != ("MessageExpunge" in events):
            raise BadRequest("MessageNew and MessageExpunge go together")
        if "FlagChange" in events and "MessageNew" not in events:
            raise BadRequest("FlagChange needs MessageNew and MessageExpunge")
        unsupported += [e for e in group.events if e not in SUPPORTED and e not in unsupported]
    if unsupported:
        raise IMAPError("Unsupported NOTIFY events", "BADEVENT (" + " ".join(unsupported) + ")")


@command("NOTIFY", AUTHED)
async def notify(session, cmd):
    factory, args = session.factory, cmd.args
    if not INotifyBackend.providedBy(factory.backend):
        raise BadRequest("NOTIFY is not supported by this server")
    registry = factory.notifyWatches
    if args.none:
        if session.notify is not None:
            session.notify.stop()
            session.notify = None
        return None
    _check(args)
    account = session.account
    new = NotifySet(session, args)
    others = [g for g in args.groups if g.filter not in _SELECTED]
    subscribed = set(await account.subscriptions()) if any(
        g.filter == "SUBSCRIBED" for g in others) else set()
    new.groups = [(_matcher(g, account.delimiter, subscribed), g.events) for g in others]
    names = [info.name for info in await account.listMailboxes()] if others else []
    wanted: dict[str, int] = {}
    for name in names:
        mask = 0
        for event in new.eventsFor(name):
            mask |= _MASKS.get(event, 0)
        if mask:
            wanted[name] = mask
    if len(wanted) > factory.notifyMaxMailboxes:
        raise IMAPError(f"NOTIFY would watch {len(wanted)} mailboxes; at most "
                        f"{factory.notifyMaxMailboxes} may be", "LIMIT")
    if session.notify is not None:
        session.notify.stop()
    session.notify = new
    registry.byUser.setdefault(session.user, set()).add(new)
    for name in wanted:
        await new.watch(name)
    if session.notify is not new:  # the connection was lost meanwhile
        new.stop()
        return None
    if args.status:
        # RFC 5465 3.1: STATUS of every mailbox watched for message events, before the OK.
        selected = session.mailbox.name if session.mailbox is not None else None
        for name, watch in new.watches.items():
            if name != selected:
                status = await account.status(name)
                session.untagged(new._statusLine(watch, status, NEW | EXPUNGE))
    return None


def announce(session, event: str, name: str, oldName: str | None = None,
             flag: bool = False) -> None:
    """
    A change of the mailbox list (C{"MailboxName"}: created, renamed from C{oldName}, or
    deleted with C{flag}) or of the subscriptions (C{"SubscriptionChange"}: subscribed
    with C{flag}) made by C{session}: its user's other NOTIFY sessions in this process
    are told as LIST responses (RFC 5465 5.4, 5.5), and watches follow the mailbox.
    """
    registry = session.factory.notifyWatches
    delimiter = session.account.delimiter
    line = listLine(delimiter, name, event, oldName, flag)
    for watcher in list(registry.sessionsOf(session.user)):
        if watcher.session is not session and (
                event in watcher.eventsFor(name)
                or (oldName is not None and event in watcher.eventsFor(oldName))):
            watcher.hold(line)
        if event == "MailboxName":
            watcher.follow(name, oldName, deleted=flag)


def listLine(delimiter: str, name: str, event: str, oldName, flag: bool) -> bytes:
    if event == "SubscriptionChange":
        attributes = b"\\Subscribed" if flag else b""
    else:
        attributes = b"\\NonExistent" if flag else b""
    line = b"LIST (" + attributes + b') "' + delimiter.encode() + b'" ' + encodeName(name)
    if oldName is not None:
        line += b' ("OLDNAME" (' + encodeName(oldName) + b"))"
    return line
