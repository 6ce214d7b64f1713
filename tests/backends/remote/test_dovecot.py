"""
The proxy in front of a real Dovecot (Debian's dovecot-imapd) on a loopback port: push to
100 local idlers over at most two upstream connections, flags and expunges, refused
logins in Dovecot's words, Dovecot stopped and restarted mid-IDLE, a new UIDVALIDITY.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import signal

import pytest_twisted
from twisted.internet import threads

from idlemail.testing.conformance import waitFor
from idlemail.testing.connections import establishedTo
from idlemail.testing.dovecot import processTree
from tests.backends.remote.conftest import selected, startProxy, stopProxy
from tests.backends.remote.test_push import closeAll, localIdlers, readAll
from tests.client.test_watcher_dovecot import append, drop
from tests.server.clients import RawClient, inThread


def crash(dovecot) -> None:
    """Dovecot's processes killed, as by a crash, then its master stopped: every
    connection drops at once (a stopped Dovecot says BYE to idling clients only 10 s
    after its master has gone)."""
    dovecot._signalTree(signal.SIGKILL, [p for p in processTree(dovecot.pid)
                                         if p != dovecot.pid])
    dovecot.stop()


def upstreamImap(dovecot) -> imaplib.IMAP4:
    m = imaplib.IMAP4(dovecot.host, dovecot.port)
    m.login("alice", "alicepw")
    m.select("INBOX")
    return m


@pytest_twisted.async_yield_fixture
async def proxy(dovecotUpstream):
    served = await startProxy(dovecotUpstream.port)
    yield served
    await stopProxy(served)


@pytest_twisted.ensureDeferred
async def test_mail_appended_upstream_reaches_100_idlers_over_two_connections(
        dovecotUpstream, proxy):
    clients = await localIdlers(proxy, 100)
    try:
        # One watching INBOX, one kept for commands; the logins' own ones are gone.
        await waitFor(lambda: establishedTo(dovecotUpstream.port) <= 2, timeout=20)
        assert establishedTo(dovecotUpstream.port) == 2
        await threads.deferToThread(append, dovecotUpstream, 1)
        told = await inThread(readAll, clients, 1)
        assert told == [[b"* 1 EXISTS"]] * 100
        await waitFor(lambda: establishedTo(dovecotUpstream.port) <= 2, timeout=20)
    finally:
        await inThread(closeAll, clients)


@pytest_twisted.ensureDeferred
async def test_a_flag_change_and_an_expunge_in_dovecot_are_pushed(dovecotUpstream, proxy):
    for n in (1, 2):
        await threads.deferToThread(append, dovecotUpstream, n)
    [client] = await localIdlers(proxy, 1)

    def changeInDovecot():
        m = upstreamImap(dovecotUpstream)
        m.uid("STORE", "2", "+FLAGS", "(\\Flagged)")
        flagged = client.readline()
        m.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")
        deleted = client.readline()
        m.expunge()  # Dovecot tells only the EXPUNGE of a message both changed and gone
        m.logout()
        return flagged, deleted, client.readline()
    try:
        flagged, deleted, gone = await inThread(changeInDovecot)
        # Appended before any local session: \\Recent for the first (RFC 3501 2.3.2).
        assert flagged == b"* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 2)"
        assert deleted == b"* 1 FETCH (FLAGS (\\Deleted \\Recent) UID 1)"
        assert gone == b"* 1 EXPUNGE"
    finally:
        await inThread(client.close)


@pytest_twisted.ensureDeferred
async def test_wrong_credentials_are_refused_in_dovecots_words(proxy):
    def logins():
        c = RawClient(proxy.host, proxy.port)
        refused = c.command(b"a", b"LOGIN alice wrong")
        c.close()
        return refused
    # One refusal: Dovecot makes later logins from the address wait after each.
    assert await inThread(logins) == [b"a NO [AUTHENTICATIONFAILED] Authentication failed."]


def messageFile(dovecot, base: str):
    maildir = dovecot.maildir("alice")
    for sub in ("new", "cur"):
        for name in os.listdir(maildir / sub):
            if name.startswith(base):
                return maildir / sub / name
    raise AssertionError(f"no message file {base}")


@pytest_twisted.ensureDeferred
async def test_dovecot_stopped_and_restarted_mid_idle(dovecotUpstream, proxy):
    for n in (1, 2):
        drop(dovecotUpstream, n)
    clients = await localIdlers(proxy, 3)

    asking = await inThread(selected, proxy)
    [watch] = proxy.backend.users["alice"].watches.values()
    try:
        crash(dovecotUpstream)
        await waitFor(lambda: not watch.up)

        def whileDown():
            return (asking.command(b"f", b"FETCH 1 (BODY.PEEK[])"),
                    asking.command(b"t", b"STATUS INBOX (MESSAGES)"))
        fetched, status = await inThread(whileDown)
        assert fetched[-1].startswith(b"f NO [UNAVAILABLE] The upstream server is unavailable")
        assert status[-1].startswith(b"t NO [UNAVAILABLE] The upstream server is unavailable")
        # Meanwhile: the first message is deleted, and one more is delivered.
        os.unlink(messageFile(dovecotUpstream, "1700000000.M1P7"))
        drop(dovecotUpstream, 3)
        dovecotUpstream.start()
        # The idlers idled on, and are told what changed, in one pass, by UID.
        told = await inThread(readAll, clients, 2)
        assert [lines[:2] for lines in told] == [[b"* 1 EXPUNGE", b"* 2 EXISTS"]] * 3
        await waitFor(lambda: watch.up)
        noop = await inThread(asking.command, b"n", b"NOOP")
        assert noop[:2] == [b"* 1 EXPUNGE", b"* 2 EXISTS"]
        after = await inThread(asking.command, b"u", b"UID FETCH 1:* (UID)")
        assert after[:-1] == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"]
    finally:
        await inThread(closeAll, clients + [asking])


@pytest_twisted.ensureDeferred
async def test_a_new_uidvalidity_upstream_ends_the_local_sessions(dovecotUpstream, proxy):
    await threads.deferToThread(append, dovecotUpstream, 1)
    clients = await localIdlers(proxy, 2)
    crash(dovecotUpstream)
    maildir = dovecotUpstream.maildir("alice")
    for name in os.listdir(maildir):
        if name.startswith("dovecot"):
            os.unlink(maildir / name)
    (maildir / "dovecot-uidlist").write_text("3 V1234 N1\n")
    if os.getuid() == 0:
        shutil.chown(maildir / "dovecot-uidlist", dovecotUpstream.mailUid,
                     dovecotUpstream.mailGid)
    dovecotUpstream.start()

    def told():
        out = []
        for c in clients:
            lines = []
            try:
                while True:
                    lines.append(c.readline())
            except ConnectionError:
                out.append(lines)
        return out
    ended = await inThread(told)
    assert len(ended) == 2
    for lines in ended:
        [bye] = lines
        assert bye.startswith(b"* BYE INBOX was replaced upstream (UIDVALIDITY ")
        assert bye.endswith(b"is now 1234); select it again")

    def again():
        c = RawClient(proxy.host, proxy.port)
        c.login()
        selected = c.command(b"s", b"SELECT INBOX")
        c.close()
        return selected
    assert b"* OK [UIDVALIDITY 1234] UIDs valid" in await inThread(again)


@pytest_twisted.ensureDeferred
async def test_a_mailbox_deleted_and_made_again_at_once_works(dovecotUpstream, proxy):
    # Dovecot disconnects every connection that has a deleted mailbox selected, in its own
    # time: a command connection of the proxy that had it selected must not be used again
    # (imaptest deletes and re-creates its mailbox between groups, as clients may).
    def script():
        answers = []
        for _ in range(3):
            c, other = RawClient(proxy.host, proxy.port), RawClient(proxy.host, proxy.port)
            try:
                c.login()
                other.login()
                answers.append(c.command(b"c", b"CREATE Box")[-1])
                answers.append(c.command(b"s", b"SELECT Box")[-1])
                answers.append(c.command(b"a", b"APPEND Box {8+}\r\nS: x\r\n\r\n")[-1])
                answers.append(c.command(b"f", b"UID FETCH 1:* (FLAGS)")[-1])
                answers.append(c.command(b"u", b"UNSELECT")[-1])
                # Pipelined, as imaptest sends them: no time for Dovecot's disconnection
                # of the connection that had Box selected to arrive in between.
                other.send(b"d DELETE Box\r\nc CREATE Box\r\n")
                answers.append(other.readUntilTagged(b"d")[-1])
                answers.append(other.readUntilTagged(b"c")[-1])
                answers.append(other.command(b"x", b"DELETE Box")[-1])
            finally:
                c.close()
                other.close()
        return answers
    answers = await inThread(script)
    assert all(b" OK" in a for a in answers), answers


@pytest_twisted.ensureDeferred
async def test_a_message_expunged_upstream_just_before_its_fetch_keeps_the_session(
        dovecotUpstream, proxy):
    # The proxy's command connection may still count a message Dovecot can no longer
    # read: its body must be found gone before its size is told, not halfway through
    # the literal (which could only end by dropping the client; imaptest's stress mode).
    await threads.deferToThread(append, dovecotUpstream, 1)

    def script():
        c = selected(proxy)
        try:
            assert c.command(b"f", b"FETCH 1 (RFC822.SIZE)")[-1].startswith(b"f OK")
            m = upstreamImap(dovecotUpstream)
            m.store("1", "+FLAGS.SILENT", "(\\Deleted)")
            m.expunge()
            m.logout()
            answer = c.command(b"b", b"FETCH 1 (BODY.PEEK[])")
            return answer, c.command(b"n", b"NOOP")
        finally:
            c.close()
    answer, noop = await inThread(script)
    assert noop[-1].startswith(b"n OK")  # the session goes on
    assert answer[-1].startswith(b"b OK") or answer[-1].startswith(b"b NO"), answer
