"""
The command connections of one upstream user: bounded, the idle ones kept to a few and
closed after a while, a connection whose command timed out never given out again.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from idlemail.backends.remote import upstream as upstreamModule
from idlemail.backends.remote.pool import UpstreamPool
from idlemail.errors import IMAPError
from idlemail.testing.conformance import waitFor
from tests.backends.remote.conftest import remoteSettings


def makePool(upstream, **overrides) -> UpstreamPool:
    settings = remoteSettings(upstream.port, **overrides)
    return UpstreamPool(lambda: upstreamModule.login(reactor, settings, "alice", "alicepw"),
                        settings, reactor)


@pytest_twisted.ensureDeferred
async def test_commands_share_at_most_max_connections_and_one_is_kept(upstream):
    pool = makePool(upstream, maxConnections=2, keepConnections=1)
    busy, most = [0], [0]

    async def work(session):
        busy[0] += 1
        most[0] = max(most[0], busy[0])
        await session.proto.noop()
        await task.deferLater(reactor, 0.05, lambda: None)
        busy[0] -= 1
    try:
        await defer.gatherResults([defer.ensureDeferred(pool.run(work)) for _ in range(6)])
        assert most[0] == 2 and len(upstream.factory.sessions) <= 2
        await waitFor(lambda: len(upstream.factory.sessions) == 1)
        assert (pool.count, len(pool.idle)) == (1, 1)
    finally:
        pool.close()


@pytest_twisted.ensureDeferred
async def test_an_idle_connection_is_closed_after_the_timeout(upstream):
    pool = makePool(upstream, connectionIdleTimeout=0.2)
    await pool.run(lambda session: session.proto.noop())
    assert pool.count == 1
    await waitFor(lambda: pool.count == 0 and not upstream.factory.sessions)
    pool.close()


@pytest_twisted.ensureDeferred
async def test_a_command_that_times_out_closes_its_connection(upstream):
    pool = makePool(upstream, commandTimeout=0.2)
    with pytest.raises(IMAPError) as e:
        await pool.run(lambda session: defer.Deferred())  # never answered
    assert e.value.code == "UNAVAILABLE" and "timed out" in str(e.value)
    assert pool.count == 0 and not pool.idle
    await waitFor(lambda: not upstream.factory.sessions)
    pool.close()


@pytest_twisted.ensureDeferred
async def test_an_upstream_refusal_is_passed_on_and_the_connection_kept(upstream):
    pool = makePool(upstream)
    with pytest.raises(IMAPError) as e:
        await pool.run(lambda session: session.proto.sendCommand("DELETE", "Nowhere"))
    assert (e.value.code, str(e.value)) == ("NONEXISTENT", "Mailbox doesn't exist: Nowhere")
    assert (pool.count, len(pool.idle)) == (1, 1)
    pool.close()
