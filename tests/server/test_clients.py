"""
Real client libraries against the server: stdlib imaplib, IMAPClient, aioimaplib.
"""

import asyncio
import imaplib
import threading

import aioimaplib
import pytest_twisted
from imapclient import IMAPClient

from idlemail.testing.conformance import waitFor
from tests.server.clients import inThread

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
           b"Subject: push test\r\nMessage-ID: <p1@example.org>\r\n\r\nHi Alice.\r\n")


@pytest_twisted.ensureDeferred
async def test_imaplib_session(server):
    def run():
        m = imaplib.IMAP4("127.0.0.1", server.port)
        m.login("alice", "alicepw")
        m.append("INBOX", "(\\Flagged)", None, MESSAGE)
        typ, data = m.select("INBOX")
        assert (typ, data) == ("OK", [b"1"])
        typ, data = m.fetch("1", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        typ2, search = m.search(None, "SUBJECT", '"push test"')
        typ3, body = m.fetch("1", "(BODY[TEXT])")
        typ4, flags = m.fetch("1", "(FLAGS)")
        m.logout()
        return data, search, body, flags
    data, search, body, flags = await inThread(run)
    assert b"RFC822.SIZE %d" % len(MESSAGE) in data[0][0]
    assert data[0][1] == b"Subject: push test\r\n\r\n"
    assert search == [b"1"]
    assert body[0][1] == b"Hi Alice.\r\n"
    assert b"\\Seen" in flags[0] and b"\\Flagged" in flags[0]  # BODY[] sets \Seen


@pytest_twisted.ensureDeferred
async def test_imapclient_idle_sees_append_from_a_second_client(server):
    idling = threading.Event()

    def idler():
        with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
            c.login("alice", "alicepw")
            c.select_folder("INBOX")
            c.idle()
            idling.set()
            responses = c.idle_check(timeout=10)
            c.idle_done()
            return responses

    def appender():
        assert idling.wait(10)
        with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
            c.login("bob", "bobpw")  # another user cannot see alice's mailbox...
            assert c.folder_exists("INBOX")
        with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
            c.login("alice", "alicepw")
            return c.append("INBOX", MESSAGE, flags=["\\Seen"])

    idle = inThread(idler)
    appended = await inThread(appender)
    responses = await idle
    assert b"[APPENDUID" in appended
    assert (1, b"EXISTS") in responses


@pytest_twisted.ensureDeferred
async def test_imapclient_sees_flags_and_expunge_pushes(server):
    for _ in range(2):
        server.backend.deliver("alice", MESSAGE)
    idling = threading.Event()

    def idler():
        with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
            c.login("alice", "alicepw")
            c.select_folder("INBOX")
            c.idle()
            idling.set()
            seen = []
            for _ in range(20):
                seen += c.idle_check(timeout=2)
                if any(r[1:2] == (b"EXPUNGE",) for r in seen):
                    break
            c.idle_done()
            return seen

    def changer():
        assert idling.wait(10)
        with IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=10) as c:
            c.login("alice", "alicepw")
            c.select_folder("INBOX")
            c.add_flags([1], ["\\Deleted"])
            c.expunge()

    idle = inThread(idler)
    await inThread(changer)
    seen = await idle
    fetches = [r for r in seen if r[1] == b"FETCH"]
    assert fetches and b"\\Deleted" in fetches[0][2][1]  # (\Deleted \Recent): ours is recent
    assert fetches[0][2][2:] == (b"UID", 1)
    assert (1, b"EXPUNGE") in seen


@pytest_twisted.ensureDeferred
async def test_aioimaplib_idle_gets_pushes(server):
    async def scenario():
        client = aioimaplib.IMAP4(host="127.0.0.1", port=server.port, timeout=10)
        await client.wait_hello_from_server()
        await client.login("alice", "alicepw")
        await client.select("INBOX")
        idle = await client.idle_start(timeout=10)
        other = aioimaplib.IMAP4(host="127.0.0.1", port=server.port, timeout=10)
        await other.wait_hello_from_server()
        await other.login("alice", "alicepw")
        await other.append(MESSAGE, mailbox="INBOX")
        pushed = await client.wait_server_push(timeout=10)
        client.idle_done()
        await asyncio.wait_for(idle, 10)
        await other.logout()
        await client.logout()
        return pushed

    pushed = await inThread(lambda: asyncio.run(scenario()))
    assert b"1 EXISTS" in pushed or "1 EXISTS" in [p if isinstance(p, str) else p.decode() for p in pushed]


@pytest_twisted.ensureDeferred
async def test_sessions_are_all_gone_after_logout(server):
    def run():
        m = imaplib.IMAP4("127.0.0.1", server.port)
        m.login("alice", "alicepw")
        m.select("INBOX")
        m.logout()
    await inThread(run)
    await waitFor(lambda: not server.factory.sessions)
