"""
The Maildir backend on the change bus: each change it makes goes out as an envelope, in
order; each open folder's tracker is fed from the bus; an envelope of another process is
applied from the store (so a repeated or stale one changes nothing, and a gap rescans);
a folder is on the bus while it is open here, lingering included.

"Another process" is a second backend on the same Maildir root with its own bus (and so
its own origin); its envelopes are carried over by hand, as Redis would carry them.
"""

import os

import pytest

import pytest_twisted
from twisted.internet import reactor, task

from idlemail.bus.envelope import Envelope
from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged
from idlemail.testing.bus import Heard
from idlemail.testing.conformance import Recorder, waitFor
from tests.backends.maildir.conftest import message, openInbox


def listen(backend, mailbox="INBOX") -> Heard:
    return Heard.on(backend.bus, "alice", mailbox)


async def twoProcesses(makeBackend):
    """Our INBOX open with a session on it, and another process's with what it sends."""
    here, there = makeBackend(watch="none"), makeBackend(watch="none")
    inbox = await openInbox(here)
    seen = Recorder(inbox.tracker).session
    theirs = await openInbox(there)
    return here, inbox, seen, there, theirs, listen(there)


def carry(envelopes, to) -> None:
    """Deliver another process's envelopes to C{to}'s bus, as a bus between processes."""
    for envelope in envelopes:
        to.bus.deliver(envelope)


def drop(backend, n: int) -> None:
    """An outside MDA's delivery: tmp/, then a rename into new/."""
    home = backend.root / "alice" / "Maildir"
    name = f"1700000000.M{n}P99.mda"
    (home / "tmp" / name).write_bytes(message(n))
    os.rename(home / "tmp" / name, home / "new" / name)


async def pause(seconds=0.3):
    await task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_changes_go_out_in_order_stamped_with_user_mailbox_uidvalidity_and_origin(
        makeBackend):
    backend = makeBackend(watch="none")
    inbox = await openInbox(backend)
    heard = listen(backend)
    session = inbox.tracker.openSession()
    uid = await inbox.append(message(1), ["$Important"], None)
    await inbox.store([uid], ["\\Deleted"], "+", origin=session)
    await inbox.expunge(origin=session)
    assert [(type(e.change), e.seq) for e in heard.envelopes] == [
        (KeywordsAdded, 1), (MessagesAdded, 2), (FlagsChanged, 3), (MessagesExpunged, 4)]
    assert {(e.user, e.mailbox, e.uidValidity, e.origin) for e in heard.envelopes} == {
        ("alice", "INBOX", inbox.uidValidity, backend.bus.origin)}
    assert [e.session for e in heard.envelopes] == [None, None, session, session]


@pytest_twisted.ensureDeferred
async def test_the_session_that_stored_a_flag_is_not_told_of_it_again(makeBackend):
    inbox = await openInbox(makeBackend(watch="none"))
    uid = await inbox.append(message(1), [], None)
    storing, other = Recorder(inbox.tracker).session, Recorder(inbox.tracker).session
    await inbox.store([uid], ["\\Flagged"], "+", origin=storing)
    assert [r[0] for r in storing.drain(ownFlags=False)] == []  # STORE .SILENT
    assert ("FETCH", 1, uid, frozenset({"\\Flagged"})) in other.drain()


@pytest_twisted.ensureDeferred
async def test_a_folder_is_on_the_bus_until_its_last_session_and_handle_are_gone(makeBackend):
    backend = makeBackend(linger=0)
    inbox = await openInbox(backend)
    view = inbox.tracker.openSession()
    assert backend.bus.mailboxes() == [("alice", "INBOX")]
    inbox.close()  # the handle goes back; a session still has it selected
    assert backend.bus.mailboxes() == [("alice", "INBOX")]
    inbox.tracker.closeSession(view)  # the tracker's onEmpty
    assert backend.bus.mailboxes() == []


@pytest_twisted.ensureDeferred
async def test_a_lingering_folder_stays_on_the_bus_until_it_is_really_closed(makeBackend):
    backend = makeBackend(linger=0.5)
    inbox = await openInbox(backend)
    view = inbox.tracker.openSession()
    inbox.tracker.closeSession(view)
    inbox.close()
    assert backend.bus.mailboxes() == [("alice", "INBOX")]  # lingering: still told
    await waitFor(lambda: backend.bus.mailboxes() == [])


@pytest_twisted.ensureDeferred
async def test_another_process_s_changes_are_read_from_the_store(makeBackend):
    here, inbox, seen, there, theirs, sent = await twoProcesses(makeBackend)
    assert here.bus.origin != there.bus.origin
    heardHere = listen(here)
    uid = await theirs.append(message(1), ["$Later"], None)
    carry(sent.envelopes, here)
    await waitFor(seen.hasPending)
    assert seen.drain()[:2] == [("FLAGS", ("$Later",)), ("EXISTS", 1)]
    assert inbox.tracker.uids == [uid]
    await theirs.store([uid], ["\\Seen"], "+")
    await theirs.expunge()  # nothing \Deleted: nothing goes
    carry(sent.envelopes[2:], here)
    await waitFor(seen.hasPending)
    assert seen.drain() == [("FETCH", 1, uid, frozenset({"\\Seen", "$Later"}))]
    await theirs.store([uid], ["\\Deleted"], "+")
    await theirs.expunge()
    carry(sent.envelopes[3:], here)
    await waitFor(lambda: inbox.tracker.uids == [])
    assert ("EXPUNGE", 1) in seen.drain()
    # What was read again because of their envelopes is not published again: no echo.
    assert {e.origin for e in heardHere.envelopes} == {there.bus.origin}


@pytest_twisted.ensureDeferred
async def test_a_repeated_or_stale_envelope_changes_nothing(makeBackend):
    here, inbox, seen, there, theirs, sent = await twoProcesses(makeBackend)
    uid = await theirs.append(message(1), [], None)
    carry(sent.envelopes, here)
    await waitFor(lambda: inbox.tracker.uids == [uid])
    await theirs.store([uid], ["\\Deleted"], "+")
    await theirs.expunge()
    carry(sent.envelopes[1:], here)
    await waitFor(lambda: inbox.tracker.uids == [])
    seen.drain()
    # The same envelopes again, and the APPEND's from an origin not heard before (so
    # not dropped as a repeat): the store says the message is gone; nothing is told.
    carry(sent.envelopes, here)
    [added] = [e for e in sent.envelopes if isinstance(e.change, MessagesAdded)]
    carry([Envelope("alice", "INBOX", added.uidValidity, "late:1:x", 1, added.change)], here)
    await pause()
    assert inbox.tracker.uids == [] and not seen.hasPending()


@pytest_twisted.ensureDeferred
async def test_a_message_that_came_and_went_before_the_envelopes_arrived_is_never_told(
        makeBackend):
    here, inbox, seen, there, theirs, sent = await twoProcesses(makeBackend)
    uid = await theirs.append(message(1), [], None)
    await theirs.store([uid], ["\\Deleted"], "+")
    await theirs.expunge()
    carry(sent.envelopes, here)  # late: the store has moved on
    await pause()
    assert inbox.tracker.uids == [] and not seen.hasPending()


@pytest_twisted.ensureDeferred
async def test_a_gap_in_another_process_s_envelopes_rescans_the_folder(makeBackend):
    here = makeBackend(watch="none")
    inbox = await openInbox(here)
    seen = Recorder(inbox.tracker).session
    drop(here, 1)  # unseen: nothing watches
    nothing = MessagesExpunged((999,))
    carry([Envelope("alice", "INBOX", inbox.uidValidity, "other:1:x", 1, nothing)], here)
    await pause()
    assert not seen.hasPending()
    carry([Envelope("alice", "INBOX", inbox.uidValidity, "other:1:x", 3, nothing)], here)
    await waitFor(seen.hasPending)
    assert ("EXISTS", 1) in seen.drain()


@pytest_twisted.ensureDeferred
async def test_with_watch_none_an_outside_drop_is_seen_once_a_re_read_is_published(
        makeBackend):
    here = makeBackend(watch="none")
    inbox = await openInbox(here)
    seen = Recorder(inbox.tracker).session
    drop(here, 1)
    await pause()
    assert not seen.hasPending() and inbox.tracker.uids == []
    carry([Envelope("alice", "INBOX", 0, "mda:1:x", 1, None)], here)  # notify-change
    await waitFor(seen.hasPending)
    assert ("EXISTS", 1) in seen.drain()


@pytest_twisted.ensureDeferred
async def test_deleting_and_renaming_a_folder_tell_every_process_to_re_read_it(makeBackend):
    backend = makeBackend(watch="none")
    account = await backend.login("alice", "alicepw")
    await account.create("Old")
    heard = {name: listen(backend, name) for name in ("Old", "New", "Gone")}
    await account.rename("Old", "New")
    await account.create("Gone")
    await account.delete("Gone")
    told = {name: [e.change for e in h.envelopes] for name, h in heard.items()}
    assert told == {"Old": [None], "New": [None], "Gone": [None, None]}


def test_the_watch_mode_is_configured_and_a_wrong_one_is_one_line(tmp_path):
    from twisted.internet import reactor

    from idlemail.backends.registry import buildBackend
    from idlemail.errors import ConfigError
    section = {"root": str(tmp_path / "mail"), "passwd_file": str(tmp_path / "passwd")}
    for mode in ("inotify", "poll", "none"):
        backend = buildBackend("maildir", dict(section, watch=mode), "f.toml", reactor)
        assert backend.hub.mode == mode
        backend.close()
    with pytest.raises(ConfigError) as e:
        buildBackend("maildir", dict(section, watch="fanotify"), "f.toml", reactor)
    assert str(e.value) == (
        "f.toml: server.maildir.watch: 'fanotify': use \"inotify\", \"poll\" or \"none\" "
        "(none: the change bus alone, for storage shared between hosts)")


@pytest_twisted.ensureDeferred
async def test_a_folder_another_process_deleted_is_told_as_emptied_here(makeBackend,
                                                                      loggedWarnings):
    here, there = makeBackend(watch="none"), makeBackend(watch="none")
    account = await there.login("alice", "alicepw")
    await account.create("Old")
    theirs = await account.open("Old", False)
    await theirs.append(message(1), [], None)
    theirs.close()
    mine = await (await here.login("alice", "alicepw")).open("Old", False)
    seen = Recorder(mine.tracker).session
    sent = listen(there, "Old")
    await account.delete("Old")
    carry(sent.envelopes, here)
    await waitFor(seen.hasPending)
    assert seen.drain() == [("EXPUNGE", 1)] and loggedWarnings == []
