"""
The memory backend on the change bus: its changes go through the bus it is given, and
each mailbox's tracker is fed from that bus under the mailbox's current name.
"""

import pytest_twisted

from idlemail.backends.memory import MemoryBackend
from idlemail.bus import LocalBus
from idlemail.events import FlagsChanged, MessagesAdded, MessagesExpunged
from idlemail.testing.bus import Heard
from idlemail.testing.conformance import Recorder


@pytest_twisted.ensureDeferred
async def test_changes_go_through_the_bus_the_backend_is_given_and_feed_the_tracker():
    backend, bus = MemoryBackend({"alice": "pw"}), LocalBus()
    old = backend.bus
    backend.useBus(bus)
    assert old.mailboxes() == [] and bus.mailboxes() == [("alice", "INBOX")]
    heard = Heard.on(bus, "alice", "INBOX")
    inbox = await (await backend.login("alice", "pw")).open("INBOX", False)
    seen = Recorder(inbox.tracker).session
    uid = backend.deliver("alice", b"Subject: hi\r\n\r\nhi\r\n")
    assert ("EXISTS", 1) in seen.drain()
    await inbox.store([uid], ["\\Deleted"], "+", origin=seen)
    await inbox.expunge(origin=seen)
    assert [(type(e.change), e.seq, e.session) for e in heard.envelopes] == [
        (MessagesAdded, 1, None), (FlagsChanged, 2, seen), (MessagesExpunged, 3, seen)]
    assert {(e.origin, e.uidValidity) for e in heard.envelopes} == {
        (bus.origin, inbox.uidValidity)}
    assert inbox.tracker.uids == [] and seen.drain() == [("EXPUNGE", 1)]


@pytest_twisted.ensureDeferred
async def test_a_renamed_mailbox_is_fed_under_its_new_name_and_a_deleted_one_not_at_all():
    backend = MemoryBackend({"alice": "pw"})
    account = await backend.login("alice", "pw")
    await account.create("Lists/old")
    box = await account.open("Lists/old", False)
    seen = Recorder(box.tracker).session
    await account.rename("Lists", "Archive")
    assert sorted(backend.bus.mailboxes()) == [
        ("alice", "Archive"), ("alice", "Archive/old"), ("alice", "INBOX")]
    backend.deliver("alice", b"Subject: hi\r\n\r\nhi\r\n", "Archive/old")
    assert ("EXISTS", 1) in seen.drain()
    await account.delete("Archive/old")
    assert ("alice", "Archive/old") not in backend.bus.mailboxes()
    await box.store([1], ["\\Seen"], "+")  # a session still on it still hears its own
    assert ("FETCH", 1, 1, frozenset({"\\Seen"})) in seen.drain()
