"""
A local LOGIN or AUTHENTICATE PLAIN is checked by logging in upstream; a refusal is passed
on in the upstream's own words.
"""

from __future__ import annotations

import pytest_twisted
from twisted.internet import defer

from idlemail.backends.memory import MemoryBackend
from idlemail.backends.remote.upstream import LoginRefused
from idlemail.testing import DEFAULT_USERS
from tests.backends.remote.conftest import Upstream, startProxy, stopProxy
from tests.server.clients import RawClient, inThread


class LockingBackend(MemoryBackend):
    """An upstream that refuses bob with words of its own."""

    def login(self, username: str, password: str):
        if username == "bob":
            return defer.fail(LoginRefused("Account locked; call the helpdesk"))
        return super().login(username, password)


@pytest_twisted.ensureDeferred
async def test_refusals_are_the_upstreams_own_words_for_login_and_authenticate():
    upstream = Upstream(LockingBackend(dict(DEFAULT_USERS)))
    upstream.start()
    proxy = await startProxy(upstream.port)
    try:
        def logins():
            c = RawClient(proxy.host, proxy.port)
            wrong = c.command(b"a", b"LOGIN alice wrong")
            locked = c.command(b"b", b"LOGIN bob bobpw")
            # AUTHENTICATE PLAIN with an initial response (RFC 4959): \0bob\0bobpw
            plain = c.command(b"c", b"AUTHENTICATE PLAIN AGJvYgBib2Jwdw==")
            c.close()  # (the third failure on one connection also ends it with BYE)
            c = RawClient(proxy.host, proxy.port)
            accepted = c.command(b"d", b"AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlcHc=")
            c.close()
            return wrong, locked, plain, accepted
        wrong, locked, plain, accepted = await inThread(logins)
        assert wrong == [b"a NO [AUTHENTICATIONFAILED] Authentication failed."]
        assert locked == [b"b NO [AUTHENTICATIONFAILED] Account locked; call the helpdesk"]
        assert plain[-1] == b"c NO [AUTHENTICATIONFAILED] Account locked; call the helpdesk"
        assert accepted[-1].startswith(b"d OK")
    finally:
        await stopProxy(proxy)
        await upstream.stop()
