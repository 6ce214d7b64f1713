"""
RemoteMailbox: one local session's handle on an upstream mailbox. Every command goes
upstream by UID on one of the user's command connections (with the mailbox selected
there); what a command changes is published locally at once (L{MailboxState}), and the
watcher's later echo of it says nothing new.

Optional capabilities: SEARCH is sent upstream as C{UID SEARCH} (L{ISearchMailbox}), body
sections and partial fetches are fetched as such (L{IPartialBodies}), and whole bodies are
read in pieces (L{IBodyStreams}).
"""

from __future__ import annotations

from datetime import datetime, timezone

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.backends.remote.body import UpstreamBody
from idlemail.backends.remote.criteria import searchArguments
from idlemail.backends.remote.pool import ValidityChanged
from idlemail.client import commands
from idlemail.errors import IMAPError, NoSuchMailbox
from idlemail.interfaces import IBodyStreams, IMailbox, IPartialBodies, ISearchMailbox
from idlemail.records import MessageInfo
from idlemail.wire.message import Section

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Messages whose date and size a mailbox remembers (~150 octets each).
MAX_REMEMBERED = 100_000
_DELETED = "\\Deleted"


def _storable(flags) -> list[str]:
    """Flags to send upstream: \\Recent is each server's own (RFC 3501 2.3.2)."""
    return [f for f in flags if f.lower() != "\\recent"]


@implementer(IMailbox, IBodyStreams, IPartialBodies, ISearchMailbox)
class RemoteMailbox:
    log = Logger()

    def __init__(self, user, watch, state, readonly: bool):
        self.name = state.name
        self.readonly = readonly
        self.tracker = state.tracker
        self._user, self._watch, self._state = user, watch, state
        self._closed = False
        watch.acquire()

    @property
    def uidValidity(self) -> int:
        return self._state.uidValidity

    @property
    def uidNext(self) -> int:
        return self._state.uidNext

    @property
    def permanentFlags(self) -> tuple:
        return self._state.permanentFlags

    # --- running upstream ------------------------------------------------------------
    def _run(self, work, selected: bool = True) -> defer.Deferred:
        """C{await work(proto)} on a command connection (with this mailbox selected)."""
        state, settings = self._state, self._user.settings

        async def onSession(session):
            if not selected:
                return await work(session.proto)
            said = await session.select(self.name, state.uidValidity,
                                        settings.commandTimeout, self._user.reactor,
                                        state.highest)
            if said is not None:
                state.learnPermanentFlags(said.permanentflags)
            published = state.highest
            result = await work(session.proto)
            session.viewUpdated(published)
            return result

        async def go():
            if state.resetReason is not None:
                raise IMAPError(state.resetReason, "UNAVAILABLE")
            try:
                return await self._user.pool.run(onSession)
            except ValidityChanged:
                self._watch.reconnect()  # its fresh listing ends this view (a reset)
                raise
        return defer.ensureDeferred(go())

    # --- reading ---------------------------------------------------------------------
    def messages(self, uids):
        return defer.ensureDeferred(self._messages(list(uids)))

    async def _messages(self, uids):
        state = self._state
        dates = state.dates
        unknown = [uid for uid in uids if uid not in dates]
        if unknown:
            found = await self._run(lambda proto: commands.uidFetchItems(
                proto, unknown, b"(UID FLAGS INTERNALDATE RFC822.SIZE)"))
            for uid, items in found.items():
                size = items.get("RFC822.SIZE")
                dates[uid] = (commands.parseInternalDate(items.get("INTERNALDATE")) or _EPOCH,
                              size if isinstance(size, int) else 0)
        out = []
        for uid in uids:
            if uid in dates and uid in state.flags:
                when, size = dates[uid]
                out.append(MessageInfo(uid, state.flags[uid], when, size))
        if len(dates) > MAX_REMEMBERED:  # a huge mailbox: remember what this FETCH needs
            for uid in unknown:
                dates.pop(uid, None)
        return out

    def flags(self, uids):
        known = self._state.flags
        return defer.succeed({uid: known[uid] for uid in uids if uid in known})

    def body(self, uid: int):
        return self.bodyPart(uid, Section(), None)

    def bodyPart(self, uid: int, section, partial):
        item = b"(UID " + commands.bodyPeek(section, partial) + b")"

        def found(items):
            if uid not in items:
                return None
            data = commands.bodyItem(items[uid])
            return b"" if data is None else data
        d = self._run(lambda proto: commands.uidFetchItems(proto, [uid], item))
        return d.addCallback(found)

    def openBody(self, uid: int):
        chunk = self._user.settings.fetchChunk

        def found(items):
            if uid not in items:
                return None
            head = commands.bodyItem(items[uid]) or b""
            size = items[uid].get("RFC822.SIZE")
            size = size if isinstance(size, int) else len(head)
            if len(head) < min(size, chunk):
                return None  # the upstream counts octets it cannot give: gone meanwhile
            return UpstreamBody(self, uid, size, chunk, head[:size])
        item = b"(UID RFC822.SIZE " + commands.bodyPeek(Section(), (0, chunk)) + b")"
        d = self._run(lambda proto: commands.uidFetchItems(proto, [uid], item))
        return d.addCallback(found)

    def search(self, criteria, uids):
        arguments = searchArguments(criteria)
        inView = set(uids)
        d = self._run(lambda proto: commands.uidSearch(proto, arguments))
        return d.addCallback(lambda found: sorted(u for u in set(found) if u in inView))

    # --- changing ----------------------------------------------------------------------
    def append(self, message: bytes, flags, internaldate):
        return defer.ensureDeferred(self._append(message, _storable(flags), internaldate))

    async def _append(self, message, flags, internaldate):
        state = self._state
        validity, uid = await self._run(lambda proto: commands.append(
            proto, self.name, message, flags, internaldate), selected=False)
        if uid is None:
            # No APPENDUID (an upstream without UIDPLUS): the newest UID is the best guess.
            status = await self._run(lambda proto: proto.status(self.name, "(UIDNEXT)"),
                                     selected=False)
            validity, uid = state.uidValidity, int(status.get("UIDNEXT", 1)) - 1
        if validity == state.uidValidity:
            await self._published(state, [(uid, flags)], self._watch)
        return uid

    async def _published(self, state, pairs, watch) -> None:
        """Publish what the proxy added; if another message may be missing below it, the
        watcher looks now, and the answer waits (bounded) until it has told everyone."""
        if state.appended(pairs):
            return
        watch.poke()
        last = max(uid for uid, _ in pairs)
        timeout = self._user.settings.commandTimeout
        try:
            await state.whenKnown(last).addTimeout(timeout, self._user.reactor)
        except defer.TimeoutError:
            # The change itself is done upstream; the watcher tells sessions when it can.
            self.log.warn("{user}/{name}: UID {uid} is answered before local sessions "
                          "were told of it: the upstream watcher did not list it within "
                          "{timeout:g} s ({why})", user=self._user.username,
                          name=state.name, uid=last, timeout=timeout,
                          why="following" if watch.up else
                          (watch.lastReason or "reconnecting"))

    def store(self, uids, flags, mode: str, origin=None):
        return defer.ensureDeferred(self._store(list(uids), _storable(flags), mode, origin))

    async def _store(self, uids, flags, mode, origin):
        if not uids:
            return {}

        async def work(proto):
            result = await commands.uidStore(proto, uids, mode, flags)
            missing = [uid for uid in uids if uid not in result]
            if missing:  # a server that leaves UID out of its FETCH answers
                result.update(await commands.uidFlags(proto, missing))
            return result
        state, result = self._state, {}
        state.storeStarted(uids)
        try:
            result = await self._run(work)
        finally:
            told, again = state.storeEnded(uids, result, origin)
            self._watch.recheck(again)
        return told

    def expunge(self, uids=None, origin=None):
        return defer.ensureDeferred(self._expunge(None if uids is None else list(uids),
                                                  origin))

    async def _expunge(self, uids, origin):
        if uids is not None and not uids:
            return []

        async def work(proto):
            within = [b"UID", commands.uidSet(uids)] if uids is not None else []
            candidates = await commands.uidSearch(proto, within + [b"DELETED"])
            if uids is not None:
                wanted = set(uids)
                candidates = [u for u in candidates if u in wanted]
            if not candidates:
                return []
            if "UIDPLUS" in proto.capabilities:
                told = await commands.expunge(proto, candidates)
            elif uids is None:
                told = await commands.expunge(proto)
            else:
                raise IMAPError("The upstream server cannot expunge by UID (no UIDPLUS)",
                                "CANNOT")
            if told == len(candidates):
                return candidates
            # Others' expunges may be told in the same answer: ask which are still there.
            left = set(await commands.uidSearch(proto, [b"UID", commands.uidSet(candidates)]))
            return [u for u in candidates if u not in left]
        gone = sorted(await self._run(work))
        self._state.expunged(gone, origin)
        return gone

    def copy(self, uids, destination: str, move: bool = False, origin=None):
        return defer.ensureDeferred(self._copy(sorted(uids), destination, move, origin))

    async def _copy(self, uids, destination, move, origin):
        state = self._state
        if not uids:
            return (0, [])

        async def work(proto):
            caps = proto.capabilities
            if move and "MOVE" in caps:
                return await commands.uidCopy(proto, uids, destination, move=True)
            if move and "UIDPLUS" not in caps:
                raise IMAPError("The upstream server cannot move messages (no MOVE or "
                                "UIDPLUS)", "CANNOT")
            result = await commands.uidCopy(proto, uids, destination)
            if move:  # RFC 6851 3.3 without MOVE: COPY, then STORE \Deleted and UID EXPUNGE
                moved = [src for src, _ in result.pairs] if result else uids
                await commands.uidStore(proto, moved, "+", [_DELETED])
                await commands.expunge(proto, moved)
            return result
        try:
            result = await self._run(work)
        except IMAPError as e:
            if e.code == "TRYCREATE":
                raise NoSuchMailbox(destination)
            raise
        pairs = list(result.pairs) if result is not None else []
        copied = [(dest, state.flags.get(src, frozenset())) for src, dest in pairs]
        if move:
            if pairs:
                state.expunged([src for src, _ in pairs], origin)
            else:
                self._watch.poke()
        target = self._user.watched(destination)
        if target is not None and target.state is not None and result is not None \
                and result.uidValidity == target.state.uidValidity and copied:
            await self._published(target.state, copied, target)
        return ((result.uidValidity or 0) if result is not None else 0, pairs)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._watch.release()
