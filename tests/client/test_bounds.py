"""
What a hostile server can make the client hold (issue 12, item 9): the server is a
separate process on 127.0.0.1 (tests/client/hostile_server.py), so that tracemalloc counts
only the client's memory. Each test shows the bound holds and the watcher carries on (or
drops the connection and comes back) as designed.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.testing.conformance import waitFor
from tests.client.test_watcher import Events

SERVER = Path(__file__).with_name("hostile_server.py")
MB = 1024 * 1024


class Hostile:
    def __init__(self, scenario: str, logfile: Path, size: int | None = None):
        args = [sys.executable, str(SERVER), scenario, str(logfile)]
        if size is not None:
            args.append(str(size))
        self.logfile = logfile
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def connections(self) -> int:
        return self.log().count("CONNECTED")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest_twisted.async_yield_fixture
async def hostile(tmp_path):
    """C{hostile(scenario)} starts a server; C{hostile.watch(server, events)} a watcher of
    it. Both are stopped after the test (the watchers first)."""
    servers, watchers = [], []

    def start(scenario: str, size: int | None = None) -> Hostile:
        server = Hostile(scenario, tmp_path / f"{scenario}.log", size)
        servers.append(server)
        return server

    def watch(server: Hostile, events: Events, **overrides) -> MailboxWatcher:
        values = dict(account="h", server=f"tcp:127.0.0.1:{server.port}", username="u",
                      password="p", plaintext=True, backoffInitial=0.2, backoffMax=0.5,
                      commandTimeout=10.0, downAfter=0.0, wantsHeaders=True)
        values.update(overrides)
        watcher = MailboxWatcher(WatchSettings(**values), events, reactor=reactor)
        watcher.startService()
        watchers.append(watcher)
        return watcher
    start.watch = watch
    yield start
    for watcher in watchers:
        await watcher.stopService()
    for server in servers:
        server.stop()


class Peak:
    """tracemalloc's peak over a block, in octets above where it started."""

    def __enter__(self):
        tracemalloc.start()
        self.base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc):
        self.octets = tracemalloc.get_traced_memory()[1] - self.base
        tracemalloc.stop()


@pytest_twisted.ensureDeferred
async def test_a_huge_exists_count_allocates_nothing_and_watching_goes_on(hostile):
    server = hostile("exists")
    events = Events()
    with Peak() as peak:
        watcher = hostile.watch(server, events)
        # "* 200000000 EXISTS" during IDLE: the watcher asks for the new mail, gets one
        # message, and goes by the list rather than the count.
        await events.waitCount("message.new", 1, timeout=20)
        # It asked for the UIDs above 5, got none, and settled on the one it can name.
        await waitFor(lambda: watcher.session.follower.exists == 1, timeout=20)
        assert list(watcher.session.follower.uids) == [5]
        await waitFor(lambda: "UID SEARCH UID 6:*\n1 A0010 IDLE" in server.log(), timeout=20)
    assert [e.uid for e in events.named("message.new")] == [5]
    assert server.connections() == 1
    assert peak.octets < 8 * MB, peak.octets  # the old [None] * n was 1.6 GB


@pytest_twisted.ensureDeferred
async def test_untagged_flood_during_idle_is_dropped_as_it_arrives(hostile):
    server = hostile("flood")
    events = Events()
    with Peak() as peak:
        hostile.watch(server, events)
        await events.waitCount("message.new", 1, timeout=60)  # sent after 20 MB of lines
    assert server.connections() == 1
    assert peak.octets < 8 * MB, peak.octets  # the old client kept every line: ~40 MB here


@pytest_twisted.ensureDeferred
async def test_a_literal_over_the_limit_drops_the_connection_and_backs_off(hostile):
    server = hostile("literal")  # announces {100000000}: over the 64 MB default
    events = Events()
    with Peak() as peak:
        hostile.watch(server, events)
        await events.waitCount("account.down", 1, timeout=20)
        await events.waitCount("account.up", 2, timeout=20)  # the next connection
    down = events.named("account.down")[0]
    assert "literal of 100000000 octets" in down.reason and "64 MB" in down.reason
    assert server.connections() == 2
    assert peak.octets < 16 * MB, peak.octets


@pytest_twisted.ensureDeferred
async def test_the_literal_limit_is_per_account(hostile):
    server = hostile("literal", size=2 * MB)
    events = Events()
    hostile.watch(server, events, maxLiteralSize=1 * MB)
    await events.waitCount("account.down", 1, timeout=20)
    assert "over the limit of 1 MB (max_literal_size)" in events.named("account.down")[0].reason


@pytest_twisted.ensureDeferred
async def test_deep_nesting_is_one_unparsable_response_not_a_crash(hostile):
    server = hostile("nesting")  # a million "(" in one FETCH
    events = Events()
    hostile.watch(server, events)
    await events.waitCount("message.new", 1, timeout=20)
    assert server.connections() == 1
    assert events.named("account.down") == []


@pytest_twisted.ensureDeferred
async def test_a_long_run_of_empty_literals_is_refused_promptly(hostile):
    server = hostile("zeros")  # 200,000 "{0}" in one response
    events = Events()
    hostile.watch(server, events)
    await events.waitCount("account.down", 1, timeout=20)  # minutes of copying before
    await events.waitCount("account.up", 2, timeout=20)
    assert "over 10000 literals" in events.named("account.down")[0].reason


@pytest_twisted.ensureDeferred
async def test_thousands_of_small_literals_in_one_packet_are_read_in_place(hostile):
    server = hostile("small-literals")  # 9,000 one-octet literals, well within bounds
    events = Events()
    hostile.watch(server, events)
    await events.waitCount("message.new", 1, timeout=20)
    assert server.connections() == 1 and events.named("account.down") == []
