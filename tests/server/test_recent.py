"""
\\Recent over the wire, on both backends (RFC 3501 2.3.2, 6.3.2, 6.3.10, 6.4.4): a message
that arrives while nobody has the mailbox selected is \\Recent for the first session to
SELECT it; EXAMINE and STATUS see it without taking it; SEARCH RECENT/NEW/OLD agree.
"""

import pytest_twisted

from tests.server.clients import RawClient, appendCommand, inThread, ok

MESSAGE = b"From: a@example.org\r\nSubject: recent\r\n\r\nbody\r\n"


def client(server) -> RawClient:
    c = RawClient(server.host, server.port)
    c.login()
    return c


def recentOf(lines) -> int:
    [count] = [int(line.split()[1]) for line in lines if line.endswith(b" RECENT")]
    return count


def views(c, verb: bytes):
    """What one SELECT or EXAMINE says of \\Recent, and what SEARCH and FETCH agree on."""
    opened = ok(c.command(b"s", verb + b" INBOX"), b"s")
    return {
        "recent": recentOf(opened),
        "search": ok(c.command(b"r", b"SEARCH RECENT"), b"r"),
        "new": ok(c.command(b"n", b"SEARCH NEW"), b"n"),
        "old": ok(c.command(b"o", b"SEARCH OLD"), b"o"),
        "flags": ok(c.command(b"f", b"FETCH 1:* FLAGS"), b"f"),
    }


def status(c) -> bytes:
    return ok(c.command(b"t", b"STATUS INBOX (RECENT)"), b"t")[0]


@pytest_twisted.ensureDeferred
async def test_an_append_while_nobody_selects_is_recent_for_the_first_select(anyServer):
    def go():
        appender = client(anyServer)
        ok(appender.command(b"a", appendCommand(b"INBOX", MESSAGE)))
        ok(appender.command(b"a", appendCommand(b"INBOX", MESSAGE, b"\\Seen")))
        before = status(appender)
        examined = views(client(anyServer), b"EXAMINE")
        afterExamine = status(appender)
        first = views(client(anyServer), b"SELECT")
        second = views(client(anyServer), b"SELECT")
        after = status(appender)
        return before, examined, afterExamine, first, second, after
    before, examined, afterExamine, first, second, after = await inThread(go)
    assert before == afterExamine == b'* STATUS "INBOX" (RECENT 2)'
    for seen in (examined, first):  # EXAMINE shows them and leaves them for SELECT
        assert seen["recent"] == 2
        assert seen["search"] == [b"* SEARCH 1 2"]
        assert seen["new"] == [b"* SEARCH 1"]
        assert seen["old"] == [b"* SEARCH"]
        assert seen["flags"] == [b"* 1 FETCH (FLAGS (\\Recent))",
                                 b"* 2 FETCH (FLAGS (\\Recent \\Seen))"]
    assert second["recent"] == 0
    assert second["search"] == [b"* SEARCH"] and second["old"] == [b"* SEARCH 1 2"]
    assert after == b'* STATUS "INBOX" (RECENT 0)'


@pytest_twisted.ensureDeferred
async def test_a_delivery_while_nobody_selects_is_recent_for_the_first_select(anyServer):
    anyServer.deliver(MESSAGE)

    def go():
        c = client(anyServer)
        before = status(c)
        return before, views(c, b"SELECT"), views(client(anyServer), b"SELECT")
    before, first, second = await inThread(go)
    assert before == b'* STATUS "INBOX" (RECENT 1)'
    assert first["recent"] == 1 and first["search"] == [b"* SEARCH 1"]
    assert second["recent"] == 0 and second["search"] == [b"* SEARCH"]


@pytest_twisted.ensureDeferred
async def test_an_append_while_another_session_selects_is_recent_for_it_only(anyServer):
    def go():
        selected = client(anyServer)
        selected.command(b"s", b"SELECT INBOX")
        other = client(anyServer)
        ok(other.command(b"a", appendCommand(b"INBOX", MESSAGE)))
        told = ok(selected.command(b"n", b"NOOP"), b"n")
        return told, status(other), views(other, b"SELECT")
    told, afterwards, later = await inThread(go)
    assert told == [b"* 1 EXISTS", b"* 1 RECENT"]
    assert afterwards == b'* STATUS "INBOX" (RECENT 0)'
    assert later["recent"] == 0
