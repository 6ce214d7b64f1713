"""
CONDSTORE/QRESYNC in the watcher (issue 16 item 3), against a real Dovecot: flag changes and
expunges made while the notifier was away are reported exactly once after a restart, through
QRESYNC where offered, CONDSTORE alone where not; nothing already told is told again.
"""

from __future__ import annotations

import imaplib
import json

import pytest
import pytest_twisted
from twisted.internet import reactor, task, threads

from idlemail.client.cursor import CursorStore
from idlemail.client.watcher import MailboxWatcher
from idlemail.testing.dovecot import DovecotServer
from tests.client.test_watcher import Events
from tests.client.test_watcher_dovecot import settings
from tests.conftest import USERS

# Dovecot's own list without QRESYNC: CONDSTORE is then the only way to ask for changes.
CONDSTORE_ONLY = ("imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                  "LITERAL+ UIDPLUS CONDSTORE")


@pytest.fixture
def condstoreOnly():
    if not DovecotServer.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = DovecotServer.temporary(USERS, extraConfig=CONDSTORE_ONLY)
    server.start()
    yield server
    server.cleanup()


def imap(dovecot, *steps) -> None:
    """Run IMAP steps as another client would: each a (command, args...) on INBOX."""
    m = imaplib.IMAP4(dovecot.host, dovecot.port)
    m.login("alice", "alicepw")
    m.select("INBOX")
    for name, *args in steps:
        if name == "APPEND":
            m.append("INBOX", None, None, args[0])
        elif name == "EXPUNGE":
            m.expunge()
        else:
            typ, _ = m.uid(name, *args)
            assert typ == "OK", (name, args)
    m.logout()


def message(n: int) -> bytes:
    return b"From: x@example.org\r\nSubject: m %d\r\n\r\nhi\r\n" % n


async def watch(dovecot, events, statePath):
    watcher = MailboxWatcher(settings(dovecot), events, CursorStore(statePath), reactor=reactor)
    watcher.startService()
    await events.waitCount("account.up", 1, timeout=20)
    return watcher


async def awayAndBack(dovecot, tmp_path):
    """Three messages; the watcher leaves; 1 is flagged and 2 expunged; it comes back."""
    state = tmp_path / "state.json"
    await threads.deferToThread(imap, dovecot, *[("APPEND", message(n)) for n in (1, 2, 3)])
    first = Events()
    watcher = await watch(dovecot, first, state)
    await watcher.stopService()
    assert json.loads(state.read_text())["cursors"]["dc/INBOX"]["modseq"] > 0
    await threads.deferToThread(imap, dovecot, ("STORE", "1", "+FLAGS", "(\\Flagged)"),
                                ("STORE", "2", "+FLAGS", "(\\Deleted)"), ("EXPUNGE",))
    events = Events()
    watcher = await watch(dovecot, events, state)
    return watcher, events, state


def told(events) -> list:
    return [(e.event, e.uid) for e in events if e.event != "account.up"]


async def resumesWithQresync(server, tmp_path) -> None:
    """What changed while away is told once through QRESYNC; a change while watching once;
    nothing again after another restart (against Dovecot, and idlemail's own server)."""
    watcher, events, state = await awayAndBack(server, tmp_path)
    try:
        assert watcher.session.qresync  # one SELECT (QRESYNC ...), no UID list
        await task.deferLater(reactor, 0.3, lambda: None)
        assert told(events) == [("message.expunged", 2), ("flags.changed", 1)]
        assert "\\Flagged" in events.named("flags.changed")[0].flags
        # A change while watching is told once, and not again after another restart.
        await threads.deferToThread(imap, server, ("STORE", "3", "+FLAGS", "(\\Seen)"))
        await events.waitCount("flags.changed", 2, timeout=20)
        await threads.deferToThread(imap, server, ("STORE", "3", "+FLAGS", "(\\Deleted)"),
                                    ("EXPUNGE",))  # told as VANISHED under QRESYNC
        await events.waitCount("message.expunged", 2, timeout=20)
        await task.deferLater(reactor, 0.3, lambda: None)
    finally:
        await watcher.stopService()
    live = told(events)[2:]
    # \Seen is told; \Deleted may be (Dovecot can fold it into the expunge); the expunge once.
    assert live[0] == ("flags.changed", 3) and live[-1] == ("message.expunged", 3)
    assert set(live[1:-1]) <= {("flags.changed", 3)} and len(live) <= 3
    again = Events()
    watcher = await watch(server, again, state)
    await task.deferLater(reactor, 0.5, lambda: None)
    await watcher.stopService()
    assert told(again) == []


@pytest_twisted.ensureDeferred
async def test_qresync_reports_what_changed_while_away_once(dovecot, tmp_path):
    await resumesWithQresync(dovecot, tmp_path)


@pytest_twisted.ensureDeferred
async def test_condstore_alone_reports_what_changed_while_away_once(condstoreOnly, tmp_path):
    watcher, events, state = await awayAndBack(condstoreOnly, tmp_path)
    try:
        assert not watcher.session.qresync and watcher.session.condstore
        await task.deferLater(reactor, 0.3, lambda: None)
    finally:
        await watcher.stopService()
    assert told(events) == [("message.expunged", 2), ("flags.changed", 1)]
    again = Events()
    watcher = await watch(condstoreOnly, again, state)
    await task.deferLater(reactor, 0.5, lambda: None)
    await watcher.stopService()
    assert told(again) == []
