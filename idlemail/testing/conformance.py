"""
The backend conformance suite: what every L{idlemail.interfaces.IBackend} must do.

Subclass L{BackendConformanceTests} in a test module and give it a C{backend}
fixture that returns a fresh backend with the users C{alice}/C{alicepw} and
C{bob}/C{bobpw}, each with an empty INBOX::

    class TestMyBackend(BackendConformanceTests):
        @pytest.fixture
        def backend(self, tmp_path):
            return MyBackend(tmp_path, users={"alice": "alicepw", "bob": "bobpw"})

Changes a backend makes asynchronously (a file watch) are awaited with a bounded
deadline, never a fixed sleep. A test opens sessions on C{mailbox.tracker} as the
protocol does for SELECT (read-write) and EXAMINE (read-only).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import pytest_twisted
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, task
from zope.interface.verify import verifyObject

from idlemail.errors import IMAPError, MailboxExists, NoSuchMailbox
from idlemail.interfaces import IAccount, IBackend, IBodyStreams, IMailbox
from idlemail.records import MailboxInfo, MailboxStatus, MessageInfo

MESSAGE = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
           b"Subject: conformance\r\nMessage-ID: <c1@example.org>\r\n\r\nHello.\r\n")


def message(n: int) -> bytes:
    return MESSAGE.replace(b"conformance", b"conformance %d" % n)


async def waitFor(predicate, timeout: float = 10.0, interval: float = 0.01):
    """Wait (bounded) until C{predicate()} is true; fail the test if it never is."""
    from twisted.internet import reactor
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await task.deferLater(reactor, interval, lambda: None)


class Recorder:
    """A session on a tracker that records what is published to it."""

    def __init__(self, tracker):
        self.wakes = 0
        self.session = tracker.openSession(self.wake)

    def wake(self):
        self.wakes += 1


class BackendConformanceTests:
    @pytest.fixture
    def backend(self):
        raise NotImplementedError("give the subclass a backend fixture")

    async def account(self, backend, user="alice", password=None):
        return await backend.login(user, password or f"{user}pw")

    async def inbox(self, backend, user="alice"):
        account = await self.account(backend, user)
        return account, await account.open("INBOX", False)

    @pytest_twisted.ensureDeferred
    async def test_provides_the_interfaces(self, backend):
        assert verifyObject(IBackend, backend)
        account, mailbox = await self.inbox(backend)
        assert verifyObject(IAccount, account)
        assert verifyObject(IMailbox, mailbox)
        assert isinstance(account.delimiter, str) and len(account.delimiter) == 1

    @pytest_twisted.ensureDeferred
    async def test_login_refuses_a_wrong_password_and_unknown_user(self, backend):
        with pytest.raises(UnauthorizedLogin):
            await backend.login("alice", "wrong")
        with pytest.raises(UnauthorizedLogin):
            await backend.login("nobody", "alicepw")
        account = await backend.login("alice", "alicepw")
        assert account.username == "alice"

    @pytest_twisted.ensureDeferred
    async def test_inbox_exists_and_is_empty(self, backend):
        account, mailbox = await self.inbox(backend)
        names = [info.name for info in await account.listMailboxes()]
        assert "INBOX" in names
        assert all(isinstance(i, MailboxInfo) for i in await account.listMailboxes())
        assert mailbox.tracker.uids == []
        assert mailbox.uidNext >= 1
        assert mailbox.uidValidity > 0

    @pytest_twisted.ensureDeferred
    async def test_append_gives_ascending_uids_and_keeps_the_bytes(self, backend):
        _, mailbox = await self.inbox(backend)
        when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
        first = await mailbox.append(message(1), ["\\Seen", "$Work"], when)
        second = await mailbox.append(message(2), [], None)
        assert second > first >= 1
        assert mailbox.uidNext > second
        assert mailbox.tracker.uids[-2:] == [first, second]
        infos = await mailbox.messages([first, second])
        assert all(isinstance(i, MessageInfo) for i in infos)
        assert [i.uid for i in infos] == [first, second]
        assert infos[0].flags == frozenset({"\\Seen", "$Work"})
        assert infos[0].internaldate == when
        assert infos[0].size == len(message(1))
        assert await mailbox.body(first) == message(1)

    @pytest_twisted.ensureDeferred
    async def test_appends_asked_together_each_get_a_uid_published_before_the_answer(
            self, backend):
        # Changes asked at once may take effect in any order (none was answered before
        # the others were asked), but each exactly once, and published before its answer.
        _, mailbox = await self.inbox(backend)
        publishedAtAnswer = []

        def answered(uid):
            publishedAtAnswer.append(uid in mailbox.tracker.uids)
            return uid
        uids = await defer.gatherResults([
            mailbox.append(message(n), [], None).addCallback(answered) for n in range(10)])
        assert publishedAtAnswer == [True] * 10
        assert sorted(uids) == mailbox.tracker.uids and len(set(uids)) == 10
        assert mailbox.uidNext > max(uids)
        assert await mailbox.expunge() == []  # none is \Deleted
        await mailbox.store(uids[:3], ["\\Deleted"], "+")
        assert await mailbox.expunge() == sorted(uids[:3])

    @pytest_twisted.ensureDeferred
    async def test_a_body_read_in_pieces_is_the_body(self, backend):
        _, mailbox = await self.inbox(backend)
        if not IBodyStreams.providedBy(mailbox):
            pytest.skip("the backend does not stream bodies (IBodyStreams is optional)")
        uid = await mailbox.append(message(1) + b"bare\nnewline\n", [], None)
        stream = await mailbox.openBody(uid)
        pieces = []
        while piece := await stream.read(5):
            pieces.append(piece)
        await defer.maybeDeferred(stream.close)
        whole = await mailbox.body(uid)
        assert b"".join(pieces) == whole and stream.size == len(whole)
        await mailbox.store([uid], ["\\Deleted"], "+")
        await mailbox.expunge()
        assert await mailbox.openBody(uid) is None

    @pytest_twisted.ensureDeferred
    async def test_flags_of_many_messages_at_once(self, backend):
        _, mailbox = await self.inbox(backend)
        a = await mailbox.append(message(1), ["\\Seen", "Work"], None)
        b = await mailbox.append(message(2), [], None)
        assert await mailbox.flags([a, b, b + 50]) == {a: {"\\Seen", "Work"}, b: frozenset()}

    @pytest_twisted.ensureDeferred
    async def test_bare_newlines_are_stored_as_crlf(self, backend):
        _, mailbox = await self.inbox(backend)
        uid = await mailbox.append(b"Subject: lf\n\nbody\n", [], None)
        assert await mailbox.body(uid) == b"Subject: lf\r\n\r\nbody\r\n"
        [info] = await mailbox.messages([uid])
        assert info.size == len(b"Subject: lf\r\n\r\nbody\r\n")

    @pytest_twisted.ensureDeferred
    async def test_append_is_published_to_open_sessions(self, backend):
        _, mailbox = await self.inbox(backend)
        _, other = await self.inbox(backend)
        assert other.tracker is mailbox.tracker
        watcher = Recorder(other.tracker)
        uid = await mailbox.append(message(1), [], None)
        await waitFor(lambda: watcher.session.hasPending())
        assert watcher.wakes >= 1
        assert watcher.session.drain()[:1] == [("EXISTS", 1)]
        assert watcher.session.uidAt(1) == uid

    @pytest_twisted.ensureDeferred
    async def test_store_modes_and_the_change_is_published_with_its_origin(self, backend):
        _, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), ["\\Draft"], None)
        watcher = Recorder(mailbox.tracker)
        origin = object()
        assert (await mailbox.store([uid], ["\\Seen"], "+", origin))[uid] == {"\\Draft", "\\Seen"}
        assert (await mailbox.store([uid], ["\\Draft"], "-"))[uid] == {"\\Seen"}
        assert (await mailbox.store([uid], ["\\Flagged", "Junk"], ""))[uid] == {"\\Flagged", "Junk"}
        [info] = await mailbox.messages([uid])
        assert info.flags == {"\\Flagged", "Junk"}
        await waitFor(lambda: watcher.session.hasPending())
        assert ("FETCH", 1, uid, frozenset({"\\Flagged", "Junk"})) in watcher.session.drain()

    @pytest_twisted.ensureDeferred
    async def test_store_on_a_missing_uid_is_left_out(self, backend):
        _, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), [], None)
        result = await mailbox.store([uid, uid + 100], ["\\Seen"], "+")
        assert set(result) == {uid}

    @pytest_twisted.ensureDeferred
    async def test_expunge_removes_only_deleted_and_never_reuses_uids(self, backend):
        _, mailbox = await self.inbox(backend)
        uids = [await mailbox.append(message(n), [], None) for n in range(3)]
        await mailbox.store(uids[:2], ["\\Deleted"], "+")
        assert await mailbox.expunge(uids[1:]) == [uids[1]]
        assert await mailbox.expunge() == [uids[0]]
        assert mailbox.tracker.uids == [uids[2]]
        assert await mailbox.body(uids[0]) is None
        assert await mailbox.messages(uids) == (await mailbox.messages([uids[2]]))
        again = await mailbox.append(message(9), [], None)
        assert again > uids[2]

    @pytest_twisted.ensureDeferred
    async def test_expunge_is_published(self, backend):
        _, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), ["\\Deleted"], None)
        watcher = Recorder(mailbox.tracker)
        await mailbox.expunge()
        await waitFor(lambda: watcher.session.hasPending())
        assert watcher.session.drain() == [("EXPUNGE", 1)]
        assert uid not in mailbox.tracker.uids

    @pytest_twisted.ensureDeferred
    async def test_copy_and_move(self, backend):
        account, mailbox = await self.inbox(backend)
        await account.create("Archive")
        a = await mailbox.append(message(1), ["\\Flagged"], None)
        b = await mailbox.append(message(2), [], None)
        validity, pairs = await mailbox.copy([a], "Archive")
        archive = await account.open("Archive", False)
        assert validity == archive.uidValidity
        assert [src for src, _ in pairs] == [a]
        [copied] = await archive.messages([pairs[0][1]])
        assert copied.flags == {"\\Flagged"}
        assert await archive.body(pairs[0][1]) == message(1)
        _, moved = await mailbox.copy([b], "Archive", move=True)
        assert mailbox.tracker.uids == [a]
        assert await archive.body(moved[0][1]) == message(2)
        with pytest.raises(NoSuchMailbox):
            await mailbox.copy([a], "Nowhere")

    @pytest_twisted.ensureDeferred
    async def test_create_list_rename_delete(self, backend):
        account = await self.account(backend)
        d = account.delimiter
        await account.create(f"Lists{d}python")
        names = {i.name for i in await account.listMailboxes()}
        assert f"Lists{d}python" in names
        with pytest.raises(MailboxExists):
            await account.create(f"Lists{d}python")
        await account.rename("Lists", "Groups")
        names = {i.name for i in await account.listMailboxes()}
        assert f"Groups{d}python" in names and f"Lists{d}python" not in names
        await account.delete(f"Groups{d}python")
        names = {i.name for i in await account.listMailboxes()}
        assert f"Groups{d}python" not in names
        with pytest.raises(NoSuchMailbox):
            await account.open("Nowhere", False)
        with pytest.raises(IMAPError):
            await account.delete("Nowhere")

    @pytest_twisted.ensureDeferred
    async def test_renaming_inbox_moves_its_messages(self, backend):
        account, mailbox = await self.inbox(backend)
        await mailbox.append(message(1), [], None)
        mailbox.close()
        await account.rename("INBOX", "Old")
        old = await account.open("Old", False)
        assert len(old.tracker.uids) == 1
        inbox = await account.open("INBOX", False)
        assert inbox.tracker.uids == []

    @pytest_twisted.ensureDeferred
    async def test_status(self, backend):
        account, mailbox = await self.inbox(backend)
        await mailbox.append(message(1), ["\\Seen"], None)
        await mailbox.append(message(2), [], None)
        status = await account.status("INBOX")
        assert isinstance(status, MailboxStatus)
        assert (status.messages, status.unseen) == (2, 1)
        assert status.uidnext == mailbox.uidNext
        assert status.uidvalidity == mailbox.uidValidity

    @pytest_twisted.ensureDeferred
    async def test_subscriptions(self, backend):
        account = await self.account(backend)
        await account.create("Sent")
        await account.subscribe("Sent")
        assert "Sent" in await account.subscriptions()
        await account.unsubscribe("Sent")
        assert "Sent" not in await account.subscriptions()

    @pytest_twisted.ensureDeferred
    async def test_users_do_not_share_mailboxes(self, backend):
        _, alice = await self.inbox(backend, "alice")
        _, bob = await self.inbox(backend, "bob")
        await alice.append(message(1), [], None)
        assert bob.tracker is not alice.tracker
        assert bob.tracker.uids == []

    @pytest_twisted.ensureDeferred
    async def test_backend_closes(self, backend):
        await self.inbox(backend)
        await defer.maybeDeferred(backend.close)

    # --- flags: one spelling each (RFC 3501 2.3.2) -------------------------------------
    @pytest_twisted.ensureDeferred
    async def test_flags_in_any_case_are_one_flag_with_one_spelling(self, backend):
        account, mailbox = await self.inbox(backend)
        a = await mailbox.append(message(1), ["\\seen", "$Work", "\\Recent"], None)
        b = await mailbox.append(message(2), ["\\FLAGGED", "$WORK"], None)
        assert await mailbox.flags([a, b]) == {a: {"\\Seen", "$Work"},
                                               b: {"\\Flagged", "$Work"}}
        added = await mailbox.store([a], ["\\DELETED", "$work", "Junk"], "+")
        assert added[a] == {"\\Seen", "\\Deleted", "$Work", "Junk"}
        removed = await mailbox.store([a], ["\\sEEN", "JUNK"], "-")
        assert removed[a] == {"\\Deleted", "$Work"}
        assert (await account.status("INBOX")).unseen == 2
        assert await mailbox.expunge() == [a]
        [info] = await mailbox.messages([b])
        assert info.flags == {"\\Flagged", "$Work"}

    @pytest_twisted.ensureDeferred
    async def test_a_copy_takes_the_destination_spelling_of_a_keyword(self, backend):
        account, mailbox = await self.inbox(backend)
        await account.create("Archive")
        archive = await account.open("Archive", False)
        await archive.append(message(1), ["$label"], None)
        uid = await mailbox.append(message(2), ["$LABEL", "\\Answered"], None)
        _, [(_, copied)] = await mailbox.copy([uid], "Archive")
        assert await archive.flags([copied]) == {copied: {"$label", "\\Answered"}}

    @pytest_twisted.ensureDeferred
    async def test_a_new_keyword_is_published_before_the_change_that_uses_it(self, backend):
        _, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), ["$Old"], None)
        assert [k.lower() for k in mailbox.tracker.keywords] == ["$old"]
        watcher = Recorder(mailbox.tracker)
        await mailbox.store([uid], ["$New", "$old"], "+")
        await waitFor(lambda: watcher.session.hasPending())
        told = watcher.session.drain()
        assert told[0] == ("FLAGS", ("$Old", "$New"))
        assert told[1][0] == "FETCH" and told[1][3] == {"$Old", "$New"}
        await mailbox.append(message(2), ["$NEW", "$Newer"], None)
        await waitFor(lambda: watcher.session.hasPending())
        told = watcher.session.drain()
        assert told[0] == ("FLAGS", ("$Old", "$New", "$Newer"))
        assert told[1][0] == "EXISTS"

    # --- \Recent: one session's, the first read-write one (RFC 3501 2.3.2) -----------
    @pytest_twisted.ensureDeferred
    async def test_recent_is_claimed_by_the_first_read_write_session_only(self, backend):
        account, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), [], None)  # nobody has INBOX selected
        assert (await account.status("INBOX")).recent == 1
        reader = mailbox.tracker.openSession(readonly=True)
        assert set(reader.recent) == {uid}  # EXAMINE sees it, and leaves it
        assert (await account.status("INBOX")).recent == 1
        writer = mailbox.tracker.openSession()
        assert set(writer.recent) == {uid}
        assert not mailbox.tracker.openSession().recent
        assert (await account.status("INBOX")).recent == 0
        later = await mailbox.append(message(2), [], None)  # the writer is selected
        assert later in writer.recent
        assert (await account.status("INBOX")).recent == 0

    @pytest_twisted.ensureDeferred
    async def test_recent_waits_for_a_read_write_session_across_closes(self, backend):
        account, mailbox = await self.inbox(backend)
        uid = await mailbox.append(message(1), [], None)
        mailbox.close()

        async def select(readonly: bool):
            box = await (await self.account(backend)).open("INBOX", readonly)
            session = box.tracker.openSession(readonly=readonly)
            recent = set(session.recent)
            box.tracker.closeSession(session)
            box.close()
            return recent
        assert await select(readonly=True) == {uid}
        assert await select(readonly=True) == {uid}
        assert await select(readonly=False) == {uid}
        assert await select(readonly=False) == set()
        assert await select(readonly=True) == set()
        assert (await account.status("INBOX")).recent == 0

    @pytest_twisted.ensureDeferred
    async def test_copies_are_recent_in_the_destination(self, backend):
        account, mailbox = await self.inbox(backend)
        await account.create("Archive")
        uid = await mailbox.append(message(1), ["\\Seen"], None)
        await mailbox.copy([uid], "Archive")
        assert (await account.status("Archive")).recent == 1

    # --- UIDVALIDITY: never 0, never reused (RFC 3501 2.3.1.1) ------------------------
    @pytest_twisted.ensureDeferred
    async def test_uidvalidity_is_never_reused_by_a_mailbox_created_again(self, backend):
        account = await self.account(backend)
        seen = []
        for n in range(3):  # within one second
            await account.create("Again")
            box = await account.open("Again", False)
            await box.append(message(n), [], None)
            assert (await account.status("Again")).uidvalidity == box.uidValidity
            seen.append(box.uidValidity)
            box.close()
            await account.delete("Again")
        assert seen[0] > 0 and seen == sorted(set(seen))

    @pytest_twisted.ensureDeferred
    async def test_uidvalidity_stays_the_same_while_the_mailbox_lives(self, backend):
        account = await self.account(backend)
        await account.create("Stays")
        first = await account.open("Stays", True)
        value = first.uidValidity
        first.close()
        again = await (await self.account(backend)).open("Stays", False)
        assert again.uidValidity == value > 0
        assert (await account.status("Stays")).uidvalidity == value
