"""
MODSEQs of a Maildir folder (idlemail-modseq, RFC 7162): they survive restarts, never go
backwards, and every change gets one, whoever made it (this process, another program seen
by inotify, another idlemail process, or anyone while the server was stopped).
"""

import os

import pytest_twisted

from idlemail.backends.maildir import modseq as M
from idlemail.events import FlagsChanged, MessagesAdded, MessagesExpunged
from idlemail.testing.conformance import waitFor
from tests.backends.maildir.conftest import message, openInbox


def maildir(backend):
    return backend.root / "alice" / "Maildir"


def fileOf(backend, uid: int) -> str:
    """The name in cur/ or new/ of the message C{uid} (as the index knows it)."""
    e = backend.folders[maildir(backend)].folder.entry(uid)
    return f"{e.subdir}/{e.filename}"


class Events:
    """The events a tracker publishes, as a watcher of it is told them."""

    def __init__(self, tracker):
        self.seen = []
        tracker.watchers.append(self)

    def mailboxChanged(self, tracker, event):
        self.seen.append(event)


async def filled(backend, n=3):
    inbox = await openInbox(backend)
    uids = [await inbox.append(message(i), [], None) for i in range(n)]
    return inbox, uids


async def restarted(makeBackend, backend):
    backend.close()
    return await openInbox(makeBackend())


@pytest_twisted.ensureDeferred
async def test_modseqs_survive_a_restart_and_go_on_above(makeBackend):
    backend = makeBackend()
    inbox, uids = await filled(backend)
    await inbox.store(uids[1:], ["\\Seen"], "+")
    before, highest = await inbox.modseqs(uids), inbox.tracker.highestModseq
    assert before[uids[1]] == before[uids[2]] == highest > before[uids[0]] > 1
    inbox = await restarted(makeBackend, backend)
    assert await inbox.modseqs(uids) == before and inbox.tracker.highestModseq == highest
    await inbox.store(uids[:1], ["\\Flagged"], "+")
    assert (await inbox.modseqs(uids[:1]))[uids[0]] == highest + 1


@pytest_twisted.ensureDeferred
async def test_a_flag_rename_by_another_program_gets_a_new_modseq(makeBackend):
    backend = makeBackend()
    inbox, uids = await filled(backend, 2)
    highest = inbox.tracker.highestModseq
    events = Events(inbox.tracker)
    path = maildir(backend) / fileOf(backend, uids[0])
    os.rename(path, maildir(backend) / "cur" / (path.name.split(":2,")[0] + ":2,F"))
    await waitFor(lambda: events.seen)
    [event] = events.seen
    assert isinstance(event, FlagsChanged) and event.modseq == highest + 1
    assert event.flags == ((uids[0], frozenset({"\\Flagged"})),)
    assert (await inbox.modseqs(uids))[uids[0]] == highest + 1


@pytest_twisted.ensureDeferred
async def test_an_mda_drop_and_an_unlink_by_another_program_get_modseqs(makeBackend):
    backend = makeBackend()
    inbox, uids = await filled(backend, 2)
    highest = inbox.tracker.highestModseq
    events = Events(inbox.tracker)
    (maildir(backend) / "tmp" / "1700000000.M1P9.mda").write_bytes(message(9))
    os.rename(maildir(backend) / "tmp" / "1700000000.M1P9.mda",
              maildir(backend) / "new" / "1700000000.M1P9.mda")
    await waitFor(lambda: events.seen)
    os.unlink(maildir(backend) / fileOf(backend, uids[0]))
    await waitFor(lambda: len(events.seen) == 2)
    added, gone = events.seen
    assert isinstance(added, MessagesAdded) and added.modseq == highest + 1
    assert isinstance(gone, MessagesExpunged) and gone.uids == (uids[0],)
    assert gone.modseq == highest + 2
    assert await inbox.expungedSince(highest) == [uids[0]]


@pytest_twisted.ensureDeferred
async def test_what_changed_while_stopped_gets_new_modseqs_the_rest_keeps_its_own(makeBackend):
    backend = makeBackend()
    inbox, uids = await filled(backend, 4)
    before, highest = await inbox.modseqs(uids), inbox.tracker.highestModseq
    box = maildir(backend)
    renamed, unlinked = box / fileOf(backend, uids[1]), box / fileOf(backend, uids[2])
    backend.close()
    os.rename(renamed, box / "cur" / (renamed.name.split(":2,")[0] + ":2,S"))
    os.unlink(unlinked)
    inbox = await openInbox(makeBackend())
    after = await inbox.modseqs(uids)
    assert after[uids[0]] == before[uids[0]] and after[uids[3]] == before[uids[3]]
    assert after[uids[1]] > highest and uids[2] not in after
    assert await inbox.expungedSince(highest) == [uids[2]]
    assert inbox.tracker.highestModseq == after[uids[1]]


@pytest_twisted.ensureDeferred
async def test_a_lost_file_starts_again_from_the_clock_above_anything_given(
        makeBackend, loggedWarnings):
    backend = makeBackend()
    inbox, uids = await filled(backend)
    highest = inbox.tracker.highestModseq
    backend.close()
    os.unlink(maildir(backend) / M.FILENAME)
    seed = M.clockSeed()
    inbox = await openInbox(makeBackend())
    after = await inbox.modseqs(uids)
    assert min(after.values()) > max(seed, highest)
    assert any("MODSEQs start again" in w for w in loggedWarnings)
    # The expunges before it are forgotten: QRESYNC answers conservatively.
    assert await inbox.expungedSince(highest) is None


@pytest_twisted.ensureDeferred
async def test_a_torn_last_line_is_ignored_a_damaged_one_reseeds(makeBackend, loggedWarnings):
    backend = makeBackend()
    inbox, uids = await filled(backend)
    before = await inbox.modseqs(uids)
    backend.close()
    path = maildir(backend) / M.FILENAME
    with open(path, "ab") as f:
        f.write(b"S 99 FS 1:")  # a crash mid-append: never acknowledged
    backend = makeBackend()
    inbox = await openInbox(backend)
    assert await inbox.modseqs(uids) == before and not loggedWarnings
    backend.close()
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + [b"S zz"] + lines[2:]))
    inbox = await openInbox(makeBackend())
    assert min((await inbox.modseqs(uids)).values()) > max(before.values())
    assert any("damaged record" in w for w in loggedWarnings)


@pytest_twisted.ensureDeferred
async def test_two_processes_on_one_folder_give_one_sequence(makeBackend):
    first, second = makeBackend(), makeBackend()
    inbox, uids = await filled(first, 2)
    other = await openInbox(second)
    assert await other.modseqs(uids) == await inbox.modseqs(uids)
    events = Events(other.tracker)
    await inbox.store(uids[:1], ["\\Answered"], "+")
    await waitFor(lambda: events.seen)  # seen by the second one's inotify
    mine = (await inbox.modseqs(uids))[uids[0]]
    assert events.seen[0].modseq == mine  # the first one's MODSEQ, not a new one
    await other.store(uids[1:], ["\\Seen"], "+")
    assert (await other.modseqs(uids))[uids[1]] == mine + 1


@pytest_twisted.ensureDeferred
async def test_the_file_is_rewritten_when_mostly_superseded(makeBackend, monkeypatch):
    monkeypatch.setattr(M, "SLACK_LINES", 10)
    backend = makeBackend()
    inbox, uids = await filled(backend, 2)
    for n in range(30):
        await inbox.store(uids[:1], ["\\Seen"], "+" if n % 2 else "-")
    before = await inbox.modseqs(uids)
    lines = (maildir(backend) / M.FILENAME).read_text().splitlines()
    assert len(lines) < 20 and lines[0].startswith("M1 V")
    inbox = await restarted(makeBackend, backend)
    assert await inbox.modseqs(uids) == before


@pytest_twisted.ensureDeferred
async def test_a_new_uidvalidity_drops_the_records_and_goes_on_above(makeBackend):
    backend = makeBackend()
    inbox, uids = await filled(backend)
    highest, validity = inbox.tracker.highestModseq, inbox.uidValidity
    backend.close()
    os.unlink(maildir(backend) / "dovecot-uidlist")  # renumbered: a new UIDVALIDITY
    inbox = await openInbox(makeBackend())
    assert inbox.uidValidity != validity
    assert min((await inbox.modseqs(inbox.tracker.uids)).values()) > highest
    header = (maildir(backend) / M.FILENAME).read_text().split("\n")[0]
    assert f" V{inbox.uidValidity} " in header
