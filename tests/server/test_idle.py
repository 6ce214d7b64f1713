"""
IDLE (RFC 2177) as DESIGN.md's "IDLE, precisely" states it, over real TCP.
"""

import socket

import pytest_twisted
from twisted.internet import reactor, task

from idlemail.testing.conformance import waitFor
from tests.server.clients import RawClient, inThread

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def idlingClient(server, mailbox=b"INBOX") -> RawClient:
    c = RawClient(server.host, server.port)
    c.login()
    c.command(b"S", b"SELECT " + mailbox)
    c.send(b"I IDLE\r\n")
    assert c.readline() == b"+ idling"
    return c


@pytest_twisted.ensureDeferred
async def test_idle_before_login_is_bad(server):
    def run():
        c = RawClient(server.host, server.port)
        reply = c.command(b"a", b"IDLE")
        c.close()
        return reply
    assert (await inThread(run))[-1].startswith(b"a BAD")


@pytest_twisted.ensureDeferred
async def test_idle_is_advertised(server):
    def run():
        c = RawClient(server.host, server.port)
        return c.greeting, c.command(b"a", b"CAPABILITY")
    greeting, reply = await inThread(run)
    assert b" IDLE" in greeting
    assert b" IDLE" in reply[0] and reply[-1].startswith(b"a OK")


@pytest_twisted.ensureDeferred
async def test_done_in_any_case_ends_idle(server):
    def run():
        c = idlingClient(server)
        c.send(b"dOnE\r\n")
        return c.readUntilTagged(b"I")
    assert (await inThread(run))[-1].startswith(b"I OK")


@pytest_twisted.ensureDeferred
async def test_done_and_next_command_in_one_packet_are_both_answered(server):
    def run():
        c = idlingClient(server)
        c.send(b"DONE\r\nx9 NOOP\r\n")
        return c.readUntilTagged(b"I"), c.readUntilTagged(b"x9")
    idle, noop = await inThread(run)
    assert idle[-1].startswith(b"I OK")
    assert noop[-1].startswith(b"x9 OK")


@pytest_twisted.ensureDeferred
async def test_another_line_during_idle_is_bad_and_the_connection_goes_on(server):
    def run():
        c = idlingClient(server)
        c.send(b"x9 NOOP\r\n")
        idle = c.readUntilTagged(b"I")
        noop = c.readUntilTagged(b"x9")
        c.send(b"garbage\r\n")
        garbage = c.readline()
        after = c.command(b"y", b"NOOP")
        return idle, noop, garbage, after
    idle, noop, garbage, after = await inThread(run)
    assert idle[-1].startswith(b"I BAD")
    assert noop[-1].startswith(b"x9 OK")  # the pipelined command is not swallowed
    assert garbage.startswith(b"garbage BAD") or garbage.startswith(b"* BAD")
    assert after[-1].startswith(b"y OK")


@pytest_twisted.ensureDeferred
async def test_append_from_another_session_is_pushed_at_once(server):
    def run():
        a = idlingClient(server)
        b = RawClient(server.host, server.port)
        b.login(b"alice", b"alicepw")
        literal = b"{%d+}\r\n" % len(MESSAGE)
        reply = b.command(b"b1", b"APPEND INBOX " + literal + MESSAGE)
        pushed = [a.readline(), a.readline()]
        a.send(b"DONE\r\n")
        a.readUntilTagged(b"I")
        return reply, pushed
    reply, pushed = await inThread(run)
    assert reply[-1].startswith(b"b1 OK [APPENDUID ")
    assert pushed == [b"* 1 EXISTS", b"* 1 RECENT"]


@pytest_twisted.ensureDeferred
async def test_store_and_expunge_from_another_session_are_pushed_with_right_numbers(server):
    for n in range(3):
        server.backend.deliver("alice", MESSAGE)

    def run():
        a = idlingClient(server)
        b = RawClient(server.host, server.port)
        b.login()
        b.command(b"s", b"SELECT INBOX")
        b.command(b"b1", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        flags = a.readline()
        b.command(b"b2", b"EXPUNGE")
        gone = a.readline()
        b.command(b"b3", b"STORE 2 +FLAGS (\\Flagged)")
        flagged = a.readline()
        a.send(b"DONE\r\n")
        a.readUntilTagged(b"I")
        fetched = a.command(b"f", b"FETCH 1:* (UID FLAGS)")
        return flags, gone, flagged, fetched
    flags, gone, flagged, fetched = await inThread(run)
    # A selected first, so the messages are \Recent in its session (RFC 3501 2.3.2).
    assert flags == b"* 2 FETCH (FLAGS (\\Deleted \\Recent) UID 2)"
    assert gone == b"* 2 EXPUNGE"
    # Message 3 (UID 3) is now number 2 for both sessions.
    assert flagged == b"* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 3)"
    assert fetched[:2] == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))",
                           b"* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))"]


@pytest_twisted.ensureDeferred
async def test_keepalive_is_sent_while_idling(server):
    server.factory.idleKeepalive = 0.2
    server.factory.stopFactory()
    server.factory.sweepInterval = 0.1
    server.factory.startFactory()

    def run():
        c = idlingClient(server)
        line = c.readline()
        c.send(b"DONE\r\n")
        return line, c.readUntilTagged(b"I")
    line, done = await inThread(run)
    assert line == b"* OK Still here"
    assert done[-1].startswith(b"I OK")


@pytest_twisted.ensureDeferred
async def test_idle_in_authenticated_state_is_allowed(server):
    def run():
        c = RawClient(server.host, server.port)
        c.login()
        c.send(b"I IDLE\r\n")
        plus = c.readline()
        c.send(b"DONE\r\n")
        return plus, c.readUntilTagged(b"I")
    plus, done = await inThread(run)
    assert plus == b"+ idling" and done[-1].startswith(b"I OK")


@pytest_twisted.ensureDeferred
async def test_200_idlers_all_get_one_exists(server):
    def connect():
        return [idlingClient(server) for _ in range(200)]
    clients = await inThread(connect)
    await waitFor(lambda: sum(s.idlingSince is not None for s in server.factory.sessions) == 200)
    server.backend.deliver("alice", MESSAGE)

    def collect():
        got = [c.readline() for c in clients]
        for c in clients:
            c.close()
        return got
    assert await inThread(collect) == [b"* 1 EXISTS"] * 200


@pytest_twisted.ensureDeferred
async def test_a_client_that_drops_mid_idle_leaves_no_listener(server):
    def run():
        clients = [idlingClient(server) for _ in range(5)]
        for c in clients:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
    await inThread(run)
    await waitFor(lambda: not server.factory.sessions)
    tracker = (await (await server.backend.login("alice", "alicepw")).open("INBOX", False)).tracker
    assert tracker.sessions == []
    await task.deferLater(reactor, 0, lambda: None)
    server.backend.deliver("alice", MESSAGE)  # nobody to wake; must not fail
