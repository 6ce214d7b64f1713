"""
Changes made on disk by other programs (an MDA, another MUA, a shell) reach the tracker.
"""

import os

import pytest
import pytest_twisted

from idlemail.testing.conformance import Recorder, waitFor
from tests.backends.maildir.conftest import message

MESSAGE = b"From: mda@example.org\nSubject: dropped %d\n\nbody\n"


def drop(maildir, n: int, name=None) -> str:
    """As an MDA does: write tmp/, rename into new/."""
    name = name or f"1700000000.M{n}P99.mda"
    tmp = maildir / "tmp" / name
    tmp.write_bytes(MESSAGE % n)
    os.rename(tmp, maildir / "new" / name)
    return name


async def openInbox(backend, readonly=False):
    account = await backend.login("alice", "alicepw")
    return await account.open("INBOX", readonly)


@pytest.fixture(params=["inotify", "poll"])
def backend(request, makeBackend):
    if request.param == "poll":
        return makeBackend(useInotify=False, pollInterval=0.05)
    return makeBackend()


def maildir(backend):
    return backend.root / "alice" / "Maildir"


@pytest_twisted.ensureDeferred
async def test_a_drop_into_new_is_published_as_added_and_recent(backend):
    inbox = await openInbox(backend)
    seen = Recorder(inbox.tracker)
    drop(maildir(backend), 1)
    await waitFor(lambda: seen.session.hasPending())
    assert seen.session.drain()[0] == ("EXISTS", 1)
    [uid] = inbox.tracker.uids
    assert uid in seen.session.recent
    assert await inbox.body(uid) == b"From: mda@example.org\r\nSubject: dropped 1\r\n\r\nbody\r\n"
    # A writable session has seen it: it leaves new/ for cur/, as Dovecot does.
    await waitFor(lambda: not os.listdir(maildir(backend) / "new"))


@pytest_twisted.ensureDeferred
async def test_a_flag_rename_by_another_program_is_published(backend):
    inbox = await openInbox(backend)
    uid = await inbox.append(b"Subject: x\r\n\r\ny\r\n", [], None)
    seen = Recorder(inbox.tracker)  # claims it: it moves to cur/
    cur = maildir(backend) / "cur"
    await waitFor(lambda: os.listdir(cur))
    [name] = os.listdir(cur)
    os.rename(cur / name, cur / (name.split(":2,")[0] + ":2,FS"))
    await waitFor(lambda: seen.session.hasPending())
    assert seen.session.drain() == [("FETCH", 1, uid, frozenset({"\\Flagged", "\\Seen"}))]


@pytest_twisted.ensureDeferred
async def test_deleting_a_file_is_an_expunge(backend):
    inbox = await openInbox(backend)
    await inbox.append(b"Subject: x\r\n\r\ny\r\n", [], None)
    seen = Recorder(inbox.tracker)  # claims it: it moves to cur/
    cur = maildir(backend) / "cur"
    await waitFor(lambda: os.listdir(cur))
    [name] = os.listdir(cur)
    os.unlink(cur / name)
    await waitFor(lambda: seen.session.hasPending())
    assert seen.session.drain() == [("EXPUNGE", 1)]
    assert inbox.tracker.uids == []


@pytest_twisted.ensureDeferred
async def test_a_burst_of_1000_drops_ends_with_1000_distinct_uids(backend):
    inbox = await openInbox(backend)
    for n in range(1000):
        drop(maildir(backend), n)
    await waitFor(lambda: len(inbox.tracker.uids) == 1000, timeout=30)
    assert inbox.tracker.uids == list(range(1, 1001))
    infos = await inbox.messages(inbox.tracker.uids)
    assert len(infos) == 1000


@pytest_twisted.ensureDeferred
async def test_a_file_that_vanishes_before_reading_is_not_an_error(backend):
    inbox = await openInbox(backend)
    uid = await inbox.append(b"Subject: x\r\n\r\ny\r\n", [], None)
    for sub in ("new", "cur"):  # unclaimed, it is still in new/ (\Recent)
        for name in os.listdir(maildir(backend) / sub):
            os.unlink(maildir(backend) / sub / name)
    entry = inbox._folder.byUid[uid]
    entry.size = entry.mtime = None  # as if never looked at
    assert await inbox.body(uid) is None
    assert await inbox.messages([uid]) == []


@pytest_twisted.ensureDeferred
async def test_one_watch_pair_per_open_folder_whatever_the_sessions(makeBackend):
    backend = makeBackend(linger=0.05)
    account = await backend.login("alice", "alicepw")
    boxes = [await account.open("INBOX", False) for _ in range(25)]
    trackers = {id(b.tracker) for b in boxes}
    assert len(trackers) == 1
    [opened] = backend.folders.values()
    assert len(opened.watch.watched) == 2  # new/ and cur/
    assert len(backend.hub.notifier()._watchpoints) == 2
    for box in boxes:
        box.close()
    # It stays open a moment (an APPEND to it soon need not open it again), then goes.
    assert len(backend.hub.notifier()._watchpoints) == 2
    await waitFor(lambda: backend.folders == {})
    assert backend.hub.notifier()._watchpoints == {}


@pytest_twisted.ensureDeferred
async def test_mail_waiting_in_new_is_recent_once_and_moves_to_cur(makeBackend):
    backend = makeBackend()
    account = await backend.login("alice", "alicepw")
    (maildir(backend)).mkdir(parents=True, exist_ok=True)
    drop(maildir(backend), 7)
    peek = await account.open("INBOX", True)
    assert os.listdir(maildir(backend) / "new")  # EXAMINE leaves it where it is
    box = await account.open("INBOX", False)
    session = box.tracker.openSession(lambda: None)
    assert session.recent == {1}
    await waitFor(lambda: os.listdir(maildir(backend) / "new") == [])
    assert len(os.listdir(maildir(backend) / "cur")) == 1
    peek.close()
    box.close()


@pytest_twisted.ensureDeferred
async def test_a_folder_deleted_and_made_again_by_another_process_is_read_anew(makeBackend):
    # Two processes on one store (workers = 2): one deletes a folder the other has open
    # and makes a new one of that name. The other must not go on serving the old one (its
    # UIDVALIDITY, its watches died with the old directories): its sessions are ended and
    # the next open reads the new folder.
    here, there = makeBackend(), makeBackend()
    mine = await here.login("alice", "alicepw")
    await mine.create("Box")
    box = await mine.open("Box", False)
    await box.append(message(1), [], None)
    old = box.uidValidity
    theirs = await there.login("alice", "alicepw")
    await theirs.delete("Box")
    await theirs.create("Box")
    remade = await theirs.open("Box", False)
    uid = await remade.append(message(2), [], None)
    await waitFor(lambda: box.tracker.resetReason is not None)
    assert "another process" in box.tracker.resetReason
    again = await mine.open("Box", False)
    assert again.uidValidity == remade.uidValidity != old
    assert again.tracker.uids == [uid]
    for mailbox in (box, remade, again):
        mailbox.close()


@pytest_twisted.ensureDeferred
async def test_a_folder_replaced_before_any_event_of_it_is_read_is_opened_anew(makeBackend):
    # The other process deletes and re-makes the folder, and a SELECT comes here before
    # the file events do (here: no watch at all): the open checks the directory first.
    here, there = makeBackend(watch="none"), makeBackend()
    mine = await here.login("alice", "alicepw")
    await mine.create("Box")
    box = await mine.open("Box", False)
    # (once it knows which directory it opened)
    await waitFor(lambda: getattr(here.folders[box._opened.path], "identity", 0) is not None)
    theirs = await there.login("alice", "alicepw")
    await theirs.delete("Box")
    await theirs.create("Box")
    remade = await theirs.open("Box", False)
    uid = await remade.append(message(1), [], None)
    again = await mine.open("Box", False)
    assert again.uidValidity == remade.uidValidity != box.uidValidity
    assert again.tracker.uids == [uid]
    assert box.tracker.resetReason is not None  # the old view's sessions are ended
    for mailbox in (box, remade, again):
        mailbox.close()


@pytest_twisted.ensureDeferred
async def test_noop_and_check_show_what_another_process_did_at_once(makeBackend, serve):
    # A server that hears of the store's changes late or never (here: no watch; with
    # workers, inotify a few ms later) reads the folder again for NOOP and CHECK, so a
    # client that asks right after another process answered a change sees it.
    from tests.server.clients import RawClient, inThread
    here, there = makeBackend(watch="none"), makeBackend()
    port = serve(here)
    c = await inThread(RawClient, "127.0.0.1", port)
    try:
        await inThread(c.login)
        await inThread(c.command, b"s", b"SELECT INBOX")
        inbox = await openInbox(there)
        uid = await inbox.append(message(1), [], None)
        noop = await inThread(c.command, b"n", b"NOOP")
        assert b"* 1 EXISTS" in noop and noop[-1].startswith(b"n OK"), noop
        await inbox.store([uid], ["\\Flagged"], "+")
        check = await inThread(c.command, b"k", b"CHECK")
        assert any(b"FETCH" in line and b"\\Flagged" in line for line in check), check
        inbox.close()
    finally:
        c.close()


def test_a_claim_never_renames_a_message_another_process_moved_out_of_new(tmp_path):
    # Moving a seen \Recent message to cur/ must not undo another process's flag change
    # that moved it first (its name there carries the flags).
    from idlemail.backends.maildir import disk
    folder = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True)
    (folder / "new" / "1.M1P1.host").write_bytes(b"Subject: x\r\n\r\nbody\r\n")
    os.rename(folder / "new" / "1.M1P1.host", folder / "cur" / "1.M1P1.host:2,F")
    assert disk.claimMessage(folder, "1.M1P1.host", "1.M1P1.host") is None
    assert os.listdir(folder / "cur") == ["1.M1P1.host:2,F"]
    (folder / "new" / "2.M2P1.host").write_bytes(b"Subject: y\r\n\r\nbody\r\n")
    assert disk.claimMessage(folder, "2.M2P1.host", "2.M2P1.host") == ("cur", "2.M2P1.host:2,")
