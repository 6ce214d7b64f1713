"""
MailboxWatcher against idlemail's own server, in-process on 127.0.0.1: new mail, expunges,
flag changes, what arrived while disconnected, polling, UIDVALIDITY, auth failures and a
server that goes deaf.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from idlemail.client.cursor import Cursor, CursorStore
from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.testing import listenLocal, memoryBackend

DEADLINE = 10.0


def message(n: int) -> bytes:
    return (b"From: Carol <carol@example.org>\r\nSubject: note %d\r\n"
            b"Message-ID: <n%d@example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
            b"\r\nbody %d\r\n" % (n, n, n))


class Events(list):
    """Collects events; C{wait} fires when a predicate over them holds."""

    def __init__(self):
        super().__init__()
        self._waiters = []

    def __call__(self, event) -> None:
        self.append(event)
        for check, d in list(self._waiters):
            if check(self):
                self._waiters.remove((check, d))
                d.callback(None)

    def named(self, name: str) -> list:
        return [e for e in self if e.event == name]

    def wait(self, check, timeout: float = DEADLINE) -> defer.Deferred:
        d = defer.Deferred()
        if check(self):
            d.callback(None)
        else:
            self._waiters.append((check, d))
            d.addTimeout(timeout, reactor)
        return d

    def waitCount(self, name: str, count: int, timeout: float = DEADLINE) -> defer.Deferred:
        return self.wait(lambda ev: len(ev.named(name)) >= count, timeout)


class Harness:
    def __init__(self):
        self.backend = memoryBackend()
        self.port, self.factory = listenLocal(self.backend)
        self.portNumber = self.port.getHost().port
        self.watchers: list[MailboxWatcher] = []

    def settings(self, **overrides) -> WatchSettings:
        values = dict(account="home", server=f"tcp:127.0.0.1:{self.portNumber}",
                      username="alice", password="alicepw", plaintext=True,
                      backoffInitial=0.05, backoffMax=0.5, authRetry=0.5,
                      commandTimeout=5.0, downAfter=0.0)
        values.update(overrides)
        return WatchSettings(**values)

    def watch(self, events, cursors=None, **overrides) -> MailboxWatcher:
        w = MailboxWatcher(self.settings(**overrides), events, cursors, reactor=reactor)
        w.startService()
        self.watchers.append(w)
        return w

    def deliver(self, n: int, user: str = "alice") -> None:
        self.backend.deliver(user, message(n))

    def dropSessions(self) -> None:
        for session in list(self.factory.sessions):
            session.transport.abortConnection()

    async def stopListening(self) -> None:
        await defer.maybeDeferred(self.port.stopListening)

    def listenAgain(self) -> None:
        self.port = reactor.listenTCP(self.portNumber, self.factory, interface="127.0.0.1")

    async def close(self) -> None:
        for w in self.watchers:
            await w.stopService()
        self.dropSessions()
        await defer.maybeDeferred(self.port.stopListening)


@pytest_twisted.async_yield_fixture
async def harness():
    h = Harness()
    yield h
    await h.close()


@pytest_twisted.ensureDeferred
async def test_new_mail_is_reported_once_with_headers(harness):
    harness.deliver(0)  # already there: not new
    events = Events()
    harness.watch(events)
    await events.waitCount("account.up", 1)
    harness.deliver(1)
    await events.waitCount("message.new", 1)
    harness.deliver(2)
    await events.waitCount("message.new", 2)
    new = events.named("message.new")
    assert [e.uid for e in new] == [2, 3]
    assert new[0].headers["subject"] == "note 1"
    assert new[0].headers["from"] == "Carol <carol@example.org>"
    assert new[0].headers["message-id"] == "<n1@example.org>"
    assert new[0].uidvalidity is not None and new[0].mailbox == "INBOX"
    await task.deferLater(reactor, 0.2, lambda: None)
    assert len(events.named("message.new")) == 2


@pytest_twisted.ensureDeferred
async def test_expunge_and_flag_changes_by_another_session(harness):
    harness.deliver(1)
    harness.deliver(2)
    events = Events()
    harness.watch(events)
    await events.waitCount("account.up", 1)
    account = await harness.backend.login("alice", "alicepw")
    box = await account.open("INBOX", False)
    await box.store([1], ["\\Flagged"], "+")
    await events.waitCount("flags.changed", 1)
    changed = events.named("flags.changed")[0]
    assert changed.uid == 1 and "\\Flagged" in changed.flags
    await box.store([2], ["\\Deleted"], "+")
    await box.expunge()
    await events.waitCount("message.expunged", 1)
    assert events.named("message.expunged")[0].uid == 2
    box.close()


@pytest_twisted.ensureDeferred
async def test_mail_that_arrives_while_down_is_reported_exactly_once(harness, tmp_path):
    cursors = CursorStore(tmp_path / "state.json")
    events = Events()
    watcher = harness.watch(events, cursors)
    await events.waitCount("account.up", 1)
    harness.deliver(1)
    await events.waitCount("message.new", 1)
    await harness.stopListening()
    harness.dropSessions()
    await events.waitCount("account.down", 1)
    for n in (2, 3, 4):
        harness.deliver(n)
    harness.listenAgain()
    await events.waitCount("account.up", 2)
    await events.waitCount("message.new", 4)
    await task.deferLater(reactor, 0.3, lambda: None)
    assert [e.uid for e in events.named("message.new")] == [1, 2, 3, 4], [(e.event, e.uid, e.time) for e in events]
    assert watcher.connections == 2
    # The cursor survives the process: a new watcher on the same state reports nothing old.
    await watcher.stopService()
    again = Events()
    harness.watch(again, CursorStore(tmp_path / "state.json"))
    await again.waitCount("account.up", 1)
    harness.deliver(5)
    await again.waitCount("message.new", 1)
    assert [e.uid for e in again.named("message.new")] == [5]


@pytest_twisted.ensureDeferred
async def test_expunges_while_down_are_found_by_comparing_uids(harness):
    for n in (1, 2, 3):
        harness.deliver(n)
    cursors = CursorStore(None)
    events = Events()
    watcher = harness.watch(events, cursors)
    await events.waitCount("account.up", 1)
    await watcher.stopService()
    account = await harness.backend.login("alice", "alicepw")
    box = await account.open("INBOX", False)
    await box.store([2], ["\\Deleted"], "+")
    await box.expunge()
    box.close()
    harness.watch(events, cursors)
    await events.waitCount("account.up", 2)
    assert [e.uid for e in events.named("message.expunged")] == [2]


@pytest_twisted.ensureDeferred
async def test_server_without_idle_is_polled(harness):
    harness.factory._preAuth = harness.factory._preAuth.replace(b" IDLE", b"")
    harness.factory._postAuth = harness.factory._postAuth.replace(b" IDLE", b"")
    events = Events()
    watcher = harness.watch(events, pollInterval=0.2)
    await events.waitCount("account.up", 1)
    assert "IDLE" not in watcher.capabilities
    assert watcher.state == "polling"
    harness.deliver(1)
    await events.waitCount("message.new", 1)
    assert not any(s.idlingSince for s in harness.factory.sessions)


@pytest_twisted.ensureDeferred
async def test_uidvalidity_change_is_one_event_not_a_flood(harness):
    for n in range(5):
        harness.deliver(n)
    cursors = CursorStore(None)
    cursors.put("home", "INBOX", Cursor(uidvalidity=1, highest=2, uids=[1, 2]))
    events = Events()
    harness.watch(events, cursors)
    await events.waitCount("account.up", 1)
    assert len(events.named("uidvalidity.reset")) == 1
    assert events.named("message.new") == []
    assert cursors.get("home", "INBOX").highest == 5


@pytest_twisted.ensureDeferred
async def test_auth_failure_is_its_own_event_and_retried(harness):
    events = Events()
    watcher = harness.watch(events, password="wrong")
    await events.waitCount("account.auth_failed", 2)
    assert events.named("account.up") == []
    assert watcher.state in ("backoff", "connecting", "authenticating")


@pytest_twisted.ensureDeferred
async def test_a_deaf_server_is_detected_and_left(harness):
    events = Events()
    harness.watch(events, keepaliveTimeout=0.5, commandTimeout=0.5)
    await events.waitCount("account.up", 1)
    # The server's sessions stop answering (as after a NAT drop or SIGSTOP).
    for session in list(harness.factory.sessions):
        session.transport.pauseProducing()
        session.transport.write = lambda data: None
    await events.waitCount("account.down", 1)
    await events.waitCount("account.up", 2)
    harness.deliver(1)
    await events.waitCount("message.new", 1)


@pytest.mark.parametrize("text, expected", [("1:3,5", [1, 2, 3, 5]), ("", []), ("7", [7])])
def test_cursor_uid_sets_round_trip(text, expected):
    from idlemail.client.cursor import compactUids, expandUids
    assert expandUids(text) == expected
    assert compactUids(expected) == text


@pytest_twisted.ensureDeferred
async def test_unavailable_at_login_is_not_an_auth_failure(harness):
    from idlemail.errors import MailboxError
    real = harness.backend.login
    calls = []

    def flaky(user, password):
        calls.append(user)
        if len(calls) == 1:
            return defer.fail(MailboxError("Try again later", "UNAVAILABLE"))
        return real(user, password)

    harness.backend.login = flaky
    events = Events()
    harness.watch(events)
    await events.waitCount("account.up", 1)
    assert events.named("account.auth_failed") == []
    assert len(calls) == 2


@contextlib.contextmanager
def hangingListener():
    """
    A port on 127.0.0.1 whose accept queue is full: a new connection hangs in SYN_SENT, as
    it does towards a host that drops packets. Yields the port number.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            fillers.append(c)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
        yield port
    finally:
        for c in fillers:
            c.close()
        listener.close()


@pytest_twisted.ensureDeferred
async def test_stopping_while_connecting_is_prompt():
    # Stopping must not wait for the connect's deadline.
    events = Events()
    with hangingListener() as port:
        w = MailboxWatcher(WatchSettings(account="x", server=f"tcp:127.0.0.1:{port}:timeout=60",
                                         username="u", password="p", plaintext=True,
                                         commandTimeout=60.0), events, reactor=reactor)
        w.startService()
        await task.deferLater(reactor, 0.5, lambda: None)
        assert w.state == "connecting"
        started = time.monotonic()
        await w.stopService().addTimeout(10, reactor)
        assert time.monotonic() - started < 5
        assert w.state == "stopped"


@pytest_twisted.ensureDeferred
async def test_idle_is_reissued_every_reidle_on_the_same_connection(harness):
    events = Events()
    watcher = harness.watch(events, reidle=0.3, keepaliveTimeout=60.0)
    await events.waitCount("account.up", 1)
    starts = set()
    for _ in range(60):  # 1.2 s: the IDLE is ended and begun again about four times
        starts.update(s.idlingSince for s in harness.factory.sessions if s.idlingSince)
        await task.deferLater(reactor, 0.02, lambda: None)
    assert len(starts) >= 3 and watcher.connections == 1
    harness.deliver(1)  # and the IDLE it is in still pushes
    await events.waitCount("message.new", 1)
