"""
The life of a watch and of an upstream user in the proxy: a mailbox is watched while
local sessions have it (and a little after), its watch and the user's password go when
the last session does; an upstream that cannot be reached at login is said so; a mailbox
deleted through the proxy ends the other sessions that had it selected.
"""

from __future__ import annotations

import pytest_twisted

from idlemail.testing.conformance import waitFor
from idlemail.testing.dovecot import freePort
from tests.backends.remote.conftest import selected, startProxy, stopProxy
from tests.server.clients import RawClient, inThread


@pytest_twisted.ensureDeferred
async def test_the_watch_and_the_password_go_a_while_after_the_last_session(upstream):
    proxy = await startProxy(upstream.port, watchLinger=0.2, connectionIdleTimeout=0.2)
    try:
        c = await inThread(selected, proxy)
        user = proxy.backend.users["alice"]
        assert list(user.watches) == ["INBOX"] and user.password == "alicepw"
        await inThread(c.command, b"l", b"LOGOUT")
        await waitFor(lambda: not proxy.backend.users)
        assert user.password is None and not user.watches
        await waitFor(lambda: not upstream.factory.sessions)  # no upstream connection left
    finally:
        await stopProxy(proxy)


@pytest_twisted.ensureDeferred
async def test_an_upstream_that_cannot_be_reached_at_login_is_said_so():
    nowhere = freePort()
    proxy = await startProxy(nowhere)
    try:
        def login():
            c = RawClient(proxy.host, proxy.port)
            reply = c.command(b"a", b"LOGIN alice alicepw")
            c.close()
            return reply
        assert await inThread(login) == [
            b"a NO [UNAVAILABLE] The upstream server is unavailable (connection refused by "
            b"127.0.0.1:%d); try again later" % nowhere]
    finally:
        await stopProxy(proxy)


@pytest_twisted.ensureDeferred
async def test_a_mailbox_deleted_through_the_proxy_ends_the_sessions_that_had_it(
        upstream, proxy):
    def run():
        a = RawClient(proxy.host, proxy.port)
        a.login()
        a.command(b"c", b"CREATE Lists")
        a.command(b"s", b"SELECT Lists")
        b = RawClient(proxy.host, proxy.port)
        b.login()
        deleted = b.command(b"d", b"DELETE Lists")
        told = []
        try:
            while True:
                told.append(a.readline())
        except ConnectionError:
            pass
        return deleted, told
    deleted, told = await inThread(run)
    assert deleted[-1].startswith(b"d OK")
    assert told == [b"* BYE Lists was deleted; select another mailbox"]
    assert "Lists" not in upstream.backend.users["alice"].mailboxes
