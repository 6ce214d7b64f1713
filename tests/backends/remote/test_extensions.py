"""
The remote backend keeps no MODSEQs of its own and opens an upstream connection per mailbox
it follows: the proxy offers neither CONDSTORE and QRESYNC nor NOTIFY, even in front of an
upstream that does, and their commands are answered BAD rather than half done.
"""

from __future__ import annotations

import pytest_twisted

from tests.server.clients import RawClient, inThread


@pytest_twisted.ensureDeferred
async def test_the_proxy_offers_no_condstore_qresync_or_notify(upstream, proxy):
    def go():
        theirs = RawClient("127.0.0.1", upstream.port).greeting
        c = RawClient(proxy.host, proxy.port)
        c.login()
        return theirs, c.greeting, c.command(b"a", b"CAPABILITY")[0]
    theirs, greeting, capability = await inThread(go)
    assert b" CONDSTORE" in theirs and b" NOTIFY" in theirs  # the upstream (idlemail) has them
    for line in (greeting, capability):
        assert b"CONDSTORE" not in line and b"QRESYNC" not in line and b"NOTIFY" not in line


@pytest_twisted.ensureDeferred
async def test_their_commands_are_refused_not_half_done(upstream, proxy):
    upstream.deliver(b"Subject: x\r\n\r\ny\r\n")

    def go():
        c = RawClient(proxy.host, proxy.port)
        c.login()
        out = [c.command(b"e", b"ENABLE CONDSTORE QRESYNC")]
        for line in (b"SELECT INBOX (CONDSTORE)", b"STATUS INBOX (HIGHESTMODSEQ)",
                     b"NOTIFY SET (PERSONAL (MessageNew MessageExpunge))"):
            out.append(c.command(b"a", line))
        c.command(b"s", b"SELECT INBOX")
        for line in (b"FETCH 1 (MODSEQ)", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1)",
                     b"STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)", b"SEARCH MODSEQ 1"):
            out.append(c.command(b"a", line))
        return out
    enabled, *refused = await inThread(go)
    assert enabled[:-1] == [b"* ENABLED"]  # nothing of it enabled (RFC 5161)
    assert [r[-1].split(b" ")[1] for r in refused] == [b"BAD"] * 7, refused
