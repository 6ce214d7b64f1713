"""
One session's handle on an open Maildir folder (L{IMailbox}, L{IBodyStreams}).

FLAGS, UID, RFC822.SIZE and INTERNALDATE come from the folder's index and never open a
message file once known (sizes from C{,W=} in the name, or counted once; dates from the
file's mtime, read once); bodies are read in the backend's disk threads. Changes go
through the folder's lane, its serial queue (L{idlemail.backends.maildir.store.Folder}).
MODSEQs (L{IModSeqMailbox}) come from the index too; the expunges since one, and the
conditional STORE, from the lane, which keeps the MODSEQ file.
"""

from __future__ import annotations

from datetime import datetime, timezone

from twisted.internet import defer
from zope.interface import implementer

from idlemail.backends.maildir.body import MessageStream, openStream
from idlemail.backends.maildir.store import Delivery
from idlemail.interfaces import IBodyStreams, ICatchUpMailbox, IMailbox, IModSeqMailbox
from idlemail.records import SYSTEM_FLAGS, MessageInfo


@implementer(IMailbox, IBodyStreams, IModSeqMailbox, ICatchUpMailbox)
class MaildirMailbox:

    def __init__(self, name: str, opened, account, readonly: bool):
        self.name, self.readonly, self._account = name, readonly, account
        self._opened = opened
        self._folder = opened.folder
        self.tracker = opened.tracker
        opened.handles += 1
        self._closed = False

    @property
    def permanentFlags(self) -> tuple[str, ...]:
        # A Maildir folder has 26 keyword letters; when all are used, no new keyword.
        return SYSTEM_FLAGS if self._folder.keywordsFull else SYSTEM_FLAGS + ("\\*",)

    @property
    def uidValidity(self) -> int:
        return self._folder.uidValidity

    @property
    def uidNext(self) -> int:
        return self._folder.uidNext

    # --- news of other processes --------------------------------------------------------
    def catchUp(self):
        """
        L{ICatchUpMailbox}: where other processes change this store (workers, hosts on
        the bus, no inotify), the folder is read again now, so that a NOOP or CHECK sent
        right after another process answered a change shows it; otherwise the file
        events already did. Never fails: a scan that cannot be made is the watch's to
        report.
        """
        opened = self._opened
        if not opened.backend.sharedStore or opened.closed:
            return defer.succeed(None)
        return self._folder.scan().addErrback(lambda _: None)

    # --- reading ------------------------------------------------------------------------
    def messages(self, uids):
        folder = self._folder

        def assemble(gone):
            out = []
            for uid in uids:
                e = folder.entry(uid)
                if e is None or uid in gone or e.mtime is None or e.size is None:
                    continue  # vanished meanwhile: an expunge to come
                out.append(MessageInfo(uid, e.flags,
                                       datetime.fromtimestamp(e.mtime, timezone.utc), e.size))
            return out
        return folder.learn(uids).addCallback(assemble)

    def flags(self, uids):
        entries = self._folder.byUid
        return defer.succeed({uid: e.flags for uid in uids if (e := entries.get(uid)) is not None})

    def modseqs(self, uids):
        entries = self._folder.byUid
        return defer.succeed({uid: e.modseq for uid in uids
                              if (e := entries.get(uid)) is not None})

    def expungedSince(self, modseq: int):
        return self._folder.expungedSince(modseq)

    def body(self, uid: int):
        return self._folder.read(uid)

    def openBody(self, uid: int):
        folder = self._folder
        e = folder.entry(uid)
        if e is None:
            return defer.succeed(None)

        def opened(found):
            if found is None:
                return None
            fd, size, counted, head = found
            if counted and folder.entry(uid) is e:
                e.size = size
            return MessageStream(folder.pool, fd, size, folder.path / e.subdir / e.filename,
                                 head)
        return folder.pool.run(openStream, folder.path, e.where, e.size).addCallback(opened)

    # --- changing -------------------------------------------------------------------------
    def append(self, message: bytes, flags, internaldate):
        # Nobody to claim it: it stays \Recent (in new/) for the next session.
        delivery = Delivery(frozenset(flags), recent=not self.tracker.hasWriter, data=message,
                            stamp=None if internaldate is None else internaldate.timestamp())
        [done] = self._folder.deliver([delivery])
        return done

    def store(self, uids, flags, mode: str, origin=None):
        return self._folder.store(uids, flags, mode, origin).addCallback(lambda r: r[0])

    def storeUnchangedSince(self, uids, flags, mode: str, unchangedSince: int, origin=None):
        return self._folder.store(uids, flags, mode, origin, unchangedSince)

    def expunge(self, uids=None, origin=None):
        return self._folder.remove(uids, onlyDeleted=True, origin=origin)

    def copy(self, uids, destination: str, move: bool = False, origin=None):
        return defer.ensureDeferred(self._copy(uids, destination, move, origin))

    async def _copy(self, uids, destination: str, move: bool, origin):
        account, source = self._account, self._folder
        path = await account.existingPath(destination)
        target = account.backend.folderAt(path, account.home)
        opened = account.backend.folders.get(path)
        # RFC 3501 6.4.7: copies are \Recent; they stay so (in new/) if nobody claims them.
        recent = opened is None or opened.tracker is None or not opened.tracker.hasWriter
        wanted = [(uid, e) for uid in sorted(uids) if (e := source.entry(uid)) is not None]
        deliveries = [Delivery(e.flags, recent, source=source.path, where=e.where)
                      for _, e in wanted]
        results = await defer.DeferredList(target.deliver(deliveries), consumeErrors=True)
        failed = [result for ok, result in results if not ok]
        newUids = [result for ok, result in results if ok]
        if failed:
            # RFC 3501 6.4.7: an unsuccessful COPY leaves the destination as it was.
            done = [u for u in newUids if u is not None]
            if done:
                await target.remove(done, onlyDeleted=False)
            failed[0].raiseException()
        pairs = [(uid, new) for (uid, _), new in zip(wanted, newUids) if new is not None]
        if move and pairs:
            await source.remove([uid for uid, _ in pairs], onlyDeleted=False, origin=origin)
        if not target.uidValidity:
            await target.scan()
        return (target.uidValidity, pairs)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._opened.release()
