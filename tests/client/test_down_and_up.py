"""
account.down and account.up (issue 14 item 2): said once, after the account has been
unreachable for down_after, with a reason a user can act on; and the log says what is
being watched and when it is back.
"""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.logger import formatEvent, globalLogPublisher

from idlemail.client.watcher import MailboxWatcher, WatchSettings, formatDuration
from idlemail.server.factory import IMAPServerFactory
from idlemail.testing import listenLocal, memoryBackend
from idlemail.testing.conformance import waitFor
from tests.client.test_tls import listenTLS
from tests.client.test_watcher import Events, hangingListener


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def logged():
    lines = []

    def observe(event):
        failure = event.get("log_failure")
        lines.append(formatEvent(event) + ("\n" + failure.getTraceback() if failure else ""))
    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


class Watchers:
    def __init__(self):
        self.started = []

    def start(self, events, server, **overrides) -> MailboxWatcher:
        values = dict(account="home", server=server, username="alice", password="alicepw",
                      plaintext=True, backoffInitial=0.05, backoffMax=0.1, authRetry=0.1,
                      commandTimeout=2.0, downAfter=0.6)
        values.update(overrides)
        w = MailboxWatcher(WatchSettings(**values), events, reactor=reactor)
        w.startService()
        self.started.append(w)
        return w


@pytest_twisted.async_yield_fixture
async def watchers():
    w = Watchers()
    yield w
    for watcher in w.started:
        await watcher.stopService()


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_refused_connections_are_one_down_after_the_threshold_then_one_up(watchers, logged):
    number = freePort()
    events = Events()
    watcher = watchers.start(events, f"tcp:127.0.0.1:{number}")
    await sleep(0.3)
    assert watcher.failures >= 2 and events.named("account.down") == []  # not yet
    await events.waitCount("account.down", 1)
    await sleep(0.5)  # many more attempts fail meanwhile: still one event
    [down] = events.named("account.down")
    assert down.reason == f"connection refused by 127.0.0.1:{number}"
    port = reactor.listenTCP(number, IMAPServerFactory(memoryBackend(), reactor),
                             interface="127.0.0.1")
    try:
        await events.waitCount("account.up", 1)
        assert [e.event for e in events] == ["account.down", "account.up"]
        text = "\n".join(logged)
        assert "home/INBOX is down: connection refused by 127.0.0.1:%d" % number in text
        assert "home is back after " in text and "watching home/INBOX (IDLE)" in text
    finally:
        await watcher.stopService()
        await port.stopListening()


@pytest_twisted.async_yield_fixture
async def local():
    """idlemail's own server on 127.0.0.1 (the watchers fixture stops its clients first)."""
    port, factory = listenLocal(memoryBackend())
    port.server = f"tcp:127.0.0.1:{port.getHost().port}"
    port.factory = factory
    yield port
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_a_short_drop_is_neither_down_nor_up(local, watchers):
    events = Events()
    watcher = watchers.start(events, local.server, downAfter=30.0)
    await events.waitCount("account.up", 1)
    for session in list(local.factory.sessions):
        session.transport.abortConnection()
    await waitFor(lambda: watcher.connections == 2)
    assert [e.event for e in events] == ["account.up"]


@pytest_twisted.ensureDeferred
async def test_refused_credentials_read_as_authentication_failed(local, watchers, logged):
    events = Events()
    watchers.start(events, local.server, password="wrong")
    await events.waitCount("account.down", 1)
    assert len(events.named("account.auth_failed")) >= 2
    reason = events.named("account.down")[0].reason
    assert reason.startswith("authentication failed: ") and "'alice'" in reason
    # Each refused connection is closed quietly: ClientService has no transition for
    # hearing of a connection whose preparation failed (it would log NoTransition).
    await task.deferLater(reactor, 0.1, lambda: None)
    assert not [line for line in logged if "Traceback" in line], logged


@pytest_twisted.ensureDeferred
async def test_an_untrusted_certificate_reads_as_such(watchers, tmp_path):
    port, factory, cert = listenTLS(tmp_path)
    events = Events()
    watchers.start(events, f"tls:127.0.0.1:{port.getHost().port}", plaintext=False)
    try:
        await events.waitCount("account.down", 1)
    finally:
        await watchers.started[0].stopService()
        await port.stopListening()
    reason = events.named("account.down")[0].reason
    assert reason.startswith("TLS certificate not trusted: "), reason
    assert "FirstError" not in reason and "Failure" not in reason


@pytest_twisted.ensureDeferred
async def test_a_host_that_never_answers_reads_as_timed_out(watchers):
    events = Events()
    with hangingListener() as number:
        watchers.start(events, f"tcp:127.0.0.1:{number}", commandTimeout=0.3, downAfter=0.2)
        await events.waitCount("account.down", 1)
        await watchers.started[0].stopService()
    reason = events.named("account.down")[0].reason
    assert reason in (f"timed out connecting to 127.0.0.1:{number}",
                      f"timed out waiting for 127.0.0.1:{number} to answer"), reason


@pytest.mark.parametrize("seconds, text", [(45.2, "45s"), (130, "2m10s"), (120, "2m"),
                                           (3720, "1h02m"), (7200, "2h")])
def test_durations_read_as_people_write_them(seconds, text):
    assert formatDuration(seconds) == text
