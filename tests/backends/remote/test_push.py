"""
Push through the proxy, over real TCP: what changes upstream (mail delivered, flags
changed, messages expunged) reaches every local idler, from an upstream with IDLE and from
one without it (the proxy polls; its clients still IDLE); what a local client changes
through the proxy is told to the others at once, and the upstream's echo of it is not told
again.
"""

from __future__ import annotations

import pytest_twisted

from idlemail.events import MessagesExpunged
from idlemail.testing.conformance import waitFor
from tests.backends.remote.conftest import selected, startProxy, stopProxy
from tests.server.clients import RawClient, inThread
from tests.server.test_idle import idlingClient

MESSAGE = b"From: a@example.org\r\nSubject: pushed\r\n\r\nhello\r\n"


def idlers(proxy, n: int) -> list[RawClient]:
    return [idlingClient(proxy) for _ in range(n)]


def readAll(clients, count: int = 1) -> list[list[bytes]]:
    return [[c.readline() for _ in range(count)] for c in clients]


def closeAll(clients) -> None:
    for c in clients:
        c.close()


async def localIdlers(proxy, n: int) -> list[RawClient]:
    clients = await inThread(idlers, proxy, n)
    await waitFor(lambda: sum(s.idlingSince is not None for s in proxy.factory.sessions) >= n)
    return clients


@pytest_twisted.ensureDeferred
async def test_mail_delivered_upstream_reaches_100_local_idlers(upstream, proxy):
    clients = await localIdlers(proxy, 100)
    try:
        upstream.deliver(MESSAGE)
        told = await inThread(readAll, clients, 2)
        assert [exists for exists, _ in told] == [b"* 1 EXISTS"] * 100
        # \Recent is one session's: the first to select read-write (RFC 3501 2.3.2).
        assert sorted(recent for _, recent in told) == [b"* 0 RECENT"] * 99 + [b"* 1 RECENT"]
    finally:
        await inThread(closeAll, clients)


@pytest_twisted.ensureDeferred
async def test_a_flag_change_and_an_expunge_upstream_are_pushed(upstream, proxy):
    for _ in range(3):
        upstream.deliver(MESSAGE)
    [client] = await localIdlers(proxy, 1)
    inbox = upstream.backend.users["alice"].mailboxes["INBOX"]
    account = await upstream.backend.login("alice", "alicepw")
    other = await account.open("INBOX", False)  # another client of the upstream
    try:
        await other.store([2], ["\\Flagged"], "+")
        [[flagged]] = await inThread(readAll, [client])
        # Delivered before any local session: \\Recent for the first (RFC 3501 2.3.2).
        assert flagged == b"* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 2)"
        await other.store([1], ["\\Deleted"], "+")
        await other.expunge()
        told = await inThread(readAll, [client], 2)
        assert told == [[b"* 1 FETCH (FLAGS (\\Deleted \\Recent) UID 1)", b"* 1 EXPUNGE"]]
        assert sorted(inbox.messages) == [2, 3]
    finally:
        await inThread(client.close)


@pytest_twisted.ensureDeferred
async def test_an_upstream_without_idle_is_polled_and_local_clients_still_idle(
        upstreamWithoutIdle):
    proxy = await startProxy(upstreamWithoutIdle.port, pollInterval=0.2)
    try:
        clients = await localIdlers(proxy, 3)
        [watch] = proxy.backend.users["alice"].watches.values()
        assert "IDLE" not in watch.capabilities
        upstreamWithoutIdle.deliver(MESSAGE)
        told = await inThread(readAll, clients, 2)
        assert [exists for exists, _ in told] == [b"* 1 EXISTS"] * 3
        await inThread(closeAll, clients)
    finally:
        await stopProxy(proxy)


@pytest_twisted.ensureDeferred
async def test_changes_through_the_proxy_are_told_at_once_and_their_echo_not_again(
        upstream, proxy):
    upstream.deliver(MESSAGE)
    [watcher] = await localIdlers(proxy, 1)

    def changeThroughTheProxy():
        c = selected(proxy)
        literal = b"{%d+}\r\n" % len(MESSAGE)
        appended = c.command(b"a", b"APPEND INBOX " + literal + MESSAGE)
        told = [watcher.readline(), watcher.readline()]
        stored = c.command(b"f", b"STORE 1 +FLAGS (\\Flagged)")
        told.append(watcher.readline())
        c.command(b"d", b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        told.append(watcher.readline())
        c.command(b"x", b"EXPUNGE")
        told.append(watcher.readline())
        c.close()
        return appended, stored, told
    appended, stored, told = await inThread(changeThroughTheProxy)
    assert appended[-1].startswith(b"a OK [APPENDUID ")
    assert stored[:-1] == [b"* 1 FETCH (FLAGS (\\Flagged))"]  # no second, echoed, FETCH
    assert told == [b"* 2 EXISTS", b"* 2 RECENT", b"* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)",
                    b"* 2 FETCH (FLAGS (\\Deleted \\Recent) UID 2)", b"* 2 EXPUNGE"]
    # The upstream's echoes of all that came to the watch before this delivery's EXISTS:
    # had any been told again, it would be read here instead.
    upstream.deliver(MESSAGE)
    assert await inThread(readAll, [watcher], 2) == [[b"* 2 EXISTS", b"* 2 RECENT"]]
    await inThread(watcher.close)


@pytest_twisted.ensureDeferred
async def test_a_polled_upstream_restarted_is_resynced(upstreamWithoutIdle):
    upstream = upstreamWithoutIdle
    upstream.deliver(MESSAGE)
    proxy = await startProxy(upstream.port, pollInterval=0.2)
    try:
        clients = await localIdlers(proxy, 2)
        [watch] = proxy.backend.users["alice"].watches.values()
        await upstream.stop()
        await waitFor(lambda: not watch.up)
        upstream.deliver(MESSAGE)  # while the proxy cannot see
        inbox = upstream.backend.users["alice"].mailboxes["INBOX"]
        del inbox.messages[1]  # and the first message is gone
        inbox.tracker.publish(MessagesExpunged((1,)))
        upstream.start()
        told = await inThread(readAll, clients, 2)
        assert told == [[b"* 1 EXPUNGE", b"* 1 EXISTS"]] * 2
        await inThread(closeAll, clients)
    finally:
        await stopProxy(proxy)
