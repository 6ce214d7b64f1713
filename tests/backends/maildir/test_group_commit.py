"""
Group commit: APPENDs (and COPY targets) written in tmp/ while a folder's lane is busy share
one directory fsync, one dovecot-uidlist write and one MODSEQ record, and each is answered
only once its own message is durable: file fsynced, renamed into cur/ or new/, directory
fsynced, UID recorded.
"""

import os
import threading

import pytest
import pytest_twisted
from twisted.internet import defer

from idlemail.errors import IMAPError
from idlemail.testing.conformance import waitFor
from tests.backends.maildir.conftest import message, openInbox


@pytest.fixture
def diskLog(monkeypatch):
    """Every fsync and fdatasync, in order, as ("fsync", path) (still really done)."""
    events = []
    guard = threading.Lock()
    realFsync, realFdatasync = os.fsync, os.fdatasync

    def logged(kind, real):
        def call(fd):
            path = os.readlink(f"/proc/self/fd/{fd}")
            result = real(fd)
            with guard:
                events.append((kind, path))
            return result
        return call
    monkeypatch.setattr(os, "fsync", logged("fsync", realFsync))
    monkeypatch.setattr(os, "fdatasync", logged("fdatasync", realFdatasync))
    return events


def fileOf(maildir, uid):
    """The path of the message whose uidlist line gives C{uid}, as on disk now."""
    for line in (maildir / "dovecot-uidlist").read_text().splitlines()[1:]:
        number, _, base = line.partition(" :")
        if int(number.split()[0]) == uid:
            for sub in ("cur", "new"):
                for name in os.listdir(maildir / sub):
                    if name.split(":2,")[0] == base:
                        return str(maildir / sub / name), base
    return None, None


@pytest_twisted.ensureDeferred
async def test_appends_waiting_together_share_one_commit_and_each_is_durable_when_answered(
        makeBackend, diskLog):
    backend = makeBackend()
    inbox = await openInbox(backend)
    await inbox.append(message(0), [], None)  # the uidlist exists: later writes append
    maildir = backend.root / "alice" / "Maildir"
    acknowledged = []

    def answered(uid):
        # At the moment of the answer: the file and its line are there, and synced.
        acknowledged.append((uid, *fileOf(maildir, uid), list(diskLog)))
        return uid
    release = await inbox._folder.lane.hold()  # the lane is busy: appends wait together
    before = len(diskLog)
    waiting = [inbox.append(message(n), ["\\Seen"], None).addCallback(answered)
               for n in range(1, 11)]
    await waitFor(lambda: len(inbox._folder._deliveries) == 10)  # written in tmp/
    release()
    uids = await defer.gatherResults(waiting)
    assert sorted(uids) == list(range(min(uids), min(uids) + 10))
    directories = {("fsync", str(maildir / sub)) for sub in ("cur", "new")}
    commit = diskLog[before:]
    # One uidlist write and one MODSEQ record for the whole group.
    assert [e for e in commit if e[0] == "fdatasync"] == [
        ("fdatasync", str(maildir / "dovecot-uidlist")),
        ("fdatasync", str(maildir / "idlemail-modseq"))]
    assert sum(event in directories for event in commit) == 1  # one directory fsync
    for uid, path, base, seen in acknowledged:
        assert path is not None, f"UID {uid} answered before its file and line were there"
        mine = seen[before:]
        assert ("fsync", str(maildir / "tmp" / base)) in mine  # the file, before its rename
        assert any(event in directories for event in mine)
        assert ("fdatasync", str(maildir / "dovecot-uidlist")) in mine
    assert inbox.tracker.uids[-10:] == sorted(uids)


@pytest_twisted.ensureDeferred
async def test_copies_into_a_folder_share_its_commit_and_keep_their_date(makeBackend,
                                                                          diskLog):
    backend = makeBackend()
    account = await backend.login("alice", "alicepw")
    await account.create("Archive")
    inbox = await account.open("INBOX", False)
    from datetime import datetime, timezone
    when = datetime(2020, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    uids = [await inbox.append(message(n), ["$Label"], when) for n in range(5)]
    archive = await account.open("Archive", False)
    before = len(diskLog)
    validity, pairs = await inbox.copy(uids, "Archive")
    assert [src for src, _ in pairs] == uids
    assert validity == archive.uidValidity
    commit = diskLog[before:]
    folder = backend.root / "alice" / "Maildir" / ".Archive"
    assert commit.count(("fsync", str(folder / "new"))) == 1  # copies are \Recent: new/
    assert [kind for kind, _ in commit].count("fdatasync") <= 1
    infos = await archive.messages([new for _, new in pairs])
    assert {i.internaldate for i in infos} == {when}
    assert all(i.flags == {"$Label"} for i in infos)
    assert [await archive.body(new) for _, new in pairs] == [message(n) for n in range(5)]


@pytest_twisted.ensureDeferred
async def test_a_bad_keyword_fails_only_its_own_append_in_a_shared_commit(makeBackend):
    backend = makeBackend()
    inbox = await openInbox(backend)
    release = await inbox._folder.lane.hold()
    good = inbox.append(message(1), ["$Fine"], None)
    bad = inbox.append(message(2), ["no(parens)"], None)
    alsoGood = inbox.append(message(3), [], None)
    await waitFor(lambda: len(inbox._folder._deliveries) == 3)  # one commit for the three
    release()
    uids = sorted([await good, await alsoGood])
    with pytest.raises(IMAPError) as refused:
        await bad
    assert refused.value.status == "BAD"
    assert uids[1] == uids[0] + 1 and inbox.tracker.uids == uids
    assert os.listdir(backend.root / "alice" / "Maildir" / "tmp") == []  # nothing left


@pytest_twisted.ensureDeferred
async def test_flag_changes_and_expunges_waiting_together_share_one_modseq_record(
        makeBackend, diskLog):
    backend = makeBackend()
    inbox = await openInbox(backend)
    uids = [await inbox.append(message(n), [], None) for n in range(6)]
    maildir = backend.root / "alice" / "Maildir"
    record = ("fdatasync", str(maildir / "idlemail-modseq"))
    answeredAfter = []

    def answered(result):
        answeredAfter.append(diskLog.count(record))
        return result
    release = await inbox._folder.lane.hold()  # the lane is busy: the changes wait
    before = diskLog.count(record)
    waiting = [inbox.store([uid], ["\\Seen"], "+").addCallback(answered) for uid in uids[:4]]
    waiting.append(inbox.store(uids[4:], ["\\Deleted"], "+").addCallback(answered))
    waiting.append(inbox.expunge().addCallback(answered))
    release()
    results = await defer.gatherResults(waiting)
    assert results[-1] == uids[4:]
    assert diskLog.count(record) == before + 1  # one fdatasync for the six changes
    assert answeredAfter == [before + 1] * 6  # none answered before it
    modseqs = await inbox.modseqs(uids[:4])
    assert len(set(modseqs.values())) == 4  # still one MODSEQ per change, in order
    assert [modseqs[uid] for uid in uids[:4]] == sorted(modseqs.values())
    # What the group recorded is on disk: a fresh process reads the same MODSEQs.
    backend.close()
    again = await openInbox(makeBackend())
    assert await again.modseqs(uids[:4]) == modseqs
    assert again.uidNext - 1 == uids[-1] and await again.flags(uids[4:]) == {}


@pytest_twisted.ensureDeferred
async def test_a_failed_sync_answers_every_append_of_the_commit_no_and_leaves_nothing(
        makeBackend, monkeypatch):
    backend = makeBackend()
    inbox = await openInbox(backend)
    first = await inbox.append(message(0), [], None)
    maildir = backend.root / "alice" / "Maildir"
    realFdatasync = os.fdatasync

    def failing(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("dovecot-uidlist"):
            raise OSError(5, "Input/output error")
        return realFdatasync(fd)
    monkeypatch.setattr(os, "fdatasync", failing)
    release = await inbox._folder.lane.hold()
    waiting = [inbox.append(message(n), [], None) for n in (1, 2)]
    await waitFor(lambda: len(inbox._folder._deliveries) == 2)
    release()
    for d in waiting:
        with pytest.raises(OSError):
            await d
    monkeypatch.setattr(os, "fdatasync", realFdatasync)
    # Nothing of the failed commit is left: no file, no UID the index would not know.
    await inbox._folder.lane.submit(lambda: None)  # after the take-back
    files = os.listdir(maildir / "cur") + os.listdir(maildir / "new")
    assert len(files) == 1 and os.listdir(maildir / "tmp") == []
    later = await inbox.append(message(3), [], None)
    assert inbox.tracker.uids == [first, later]
    await inbox._folder.scan()
    assert inbox.tracker.uids == [first, later]
