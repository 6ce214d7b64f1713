"""
The proxy in front of an upstream that advertises neither UIDPLUS nor MOVE (a real Dovecot
told to say so with C{imap_capability}): what can be done without them is done (APPEND,
COPY, STORE, EXPUNGE of every \\Deleted message, pushed to local idlers); what cannot be
done safely (UID EXPUNGE of some, MOVE) is refused NO [CANNOT] and changes nothing
upstream, rather than expunging messages the client did not name.
"""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted

from idlemail.testing import DEFAULT_USERS
from idlemail.testing.dovecot import DovecotServer
from tests.backends.remote.conftest import selected, startProxy, stopProxy, stopDovecot
from tests.server.clients import inThread

PLAIN_CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR IDLE NAMESPACE ENABLE"
MESSAGE = b"Subject: %d\r\n\r\nbody %d\r\n"


@pytest.fixture
def plainUpstream():
    if not DovecotServer.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = DovecotServer.temporary(
        dict(DEFAULT_USERS),
        extraConfig=f"auth_failure_delay = 0\nimap_capability = {PLAIN_CAPABILITIES}\n")
    server.start()
    yield server
    stopDovecot(server)


@pytest_twisted.async_yield_fixture
async def proxy(plainUpstream):
    served = await startProxy(plainUpstream.port)
    yield served
    await stopProxy(served)


def upstreamState(dovecot, mailbox="INBOX") -> list[tuple[int, bytes]]:
    """(UID, flags) of every message upstream, read by a client of Dovecot's own."""
    m = imaplib.IMAP4(dovecot.host, dovecot.port)
    try:
        m.login("alice", "alicepw")
        m.select(mailbox, readonly=True)
        _, data = m.uid("FETCH", "1:*", "(FLAGS)")
        out = []
        for line in data:
            if line is None:
                continue
            uid = int(line.split(b"UID ")[1].split(b")")[0].split()[0])
            out.append((uid, line.split(b"FLAGS (")[1].split(b")")[0]))
        return sorted(out)
    finally:
        m.logout()


def appendTwo(c) -> None:
    """Two messages APPENDed through the proxy, each answered OK."""
    for n in (1, 2):
        lit = MESSAGE % (n, n)
        c.send(b"a APPEND INBOX {%d+}\r\n" % len(lit) + lit + b"\r\n")
        assert c.readUntilTagged(b"a")[-1].startswith(b"a OK")


def pushed(idler) -> bytes:
    """The idler's next push but for RECENT counts (told with each EXISTS)."""
    while (line := idler.readline()).endswith(b" RECENT"):
        pass
    return line


@pytest_twisted.ensureDeferred
async def test_append_copy_and_expunge_work_and_are_pushed_without_uidplus(
        plainUpstream, proxy):
    idler = await inThread(selected, proxy)
    await inThread(idler.send, b"i IDLE\r\n")
    assert (await inThread(idler.readline)).startswith(b"+")
    c = await inThread(selected, proxy)
    try:
        await inThread(appendTwo, c)
        assert await inThread(pushed, idler) == b"* 1 EXISTS"
        assert await inThread(pushed, idler) == b"* 2 EXISTS"
        assert (await inThread(c.command, b"k", b"CREATE Kept"))[-1].startswith(b"k OK")
        assert (await inThread(c.command, b"c", b"UID COPY 1 Kept"))[-1].startswith(b"c OK")
        stored = await inThread(c.command, b"f", b"UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert stored[-1].startswith(b"f OK")
        expunged = await inThread(c.command, b"e", b"EXPUNGE")
        assert expunged == [b"* 1 EXPUNGE", expunged[-1]] and expunged[-1].startswith(b"e OK")
        told = [await inThread(pushed, idler) for _ in range(2)]
        # The idler saw them first: \Recent is its own (RFC 3501 2.3.2).
        assert told == [b"* 1 FETCH (FLAGS (\\Deleted \\Recent) UID 1)", b"* 1 EXPUNGE"]
        assert [uid for uid, _ in await inThread(upstreamState, plainUpstream)] == [2]
        assert len(await inThread(upstreamState, plainUpstream, "Kept")) == 1
    finally:
        await inThread(c.close)
        await inThread(idler.close)


@pytest_twisted.ensureDeferred
async def test_uid_expunge_and_move_are_refused_and_change_nothing_without_uidplus(
        plainUpstream, proxy):
    c = await inThread(selected, proxy)
    try:
        await inThread(appendTwo, c)
        await inThread(c.command, b"n", b"NOOP")
        stored = await inThread(c.command, b"f", b"UID STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        assert stored[-1].startswith(b"f OK")
        refused = await inThread(c.command, b"e", b"UID EXPUNGE 1")
        assert refused[-1].startswith(b"e NO [CANNOT]"), refused
        assert (await inThread(c.command, b"k", b"CREATE Kept"))[-1].startswith(b"k OK")
        moved = await inThread(c.command, b"m", b"UID MOVE 2 Kept")
        assert moved[-1].startswith(b"m NO [CANNOT]"), moved
        # Neither expunged the other \Deleted message, nor moved anything.
        state = await inThread(upstreamState, plainUpstream)
        assert [uid for uid, _ in state] == [1, 2]
        assert all(b"\\Deleted" in flags for _, flags in state)
        assert await inThread(upstreamState, plainUpstream, "Kept") == []
    finally:
        await inThread(c.close)
