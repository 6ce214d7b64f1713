"""
Flags over the wire, on both backends: one flag whatever its case (RFC 3501 2.3.2, 9),
bad flags refused, and new keywords announced before any FETCH uses them (7.2.6).
"""

import pytest_twisted

from tests.server.clients import RawClient, appendCommand, inThread, ok, run

MESSAGE = b"From: a@example.org\r\nSubject: flags\r\n\r\nbody\r\n"


def loggedIn(server, select=b"INBOX"):
    c = RawClient(server.host, server.port)
    c.login()
    if select:
        c.command(b"s", b"SELECT " + select)
    return c


@pytest_twisted.ensureDeferred
async def test_system_flags_in_any_case_are_one_flag(anyServer):
    def script(c):
        out = {}
        out["append"] = c.command(b"a", appendCommand(b"INBOX", MESSAGE, b"\\seen \\FLAGGED"))
        out["status"] = c.command(b"a", b"STATUS INBOX (MESSAGES UNSEEN)")
        c.command(b"s", b"SELECT INBOX")
        out["store"] = c.command(b"a", b"STORE 1 FLAGS (\\sEEN \\draft)")
        out["search"] = c.command(b"a", b"SEARCH SEEN DRAFT UNFLAGGED")
        out["fetch"] = c.command(b"a", b"FETCH 1 FLAGS")
        return out
    out = await run(anyServer, script)
    ok(out["append"])
    assert ok(out["status"]) == [b'* STATUS "INBOX" (MESSAGES 1 UNSEEN 0)']
    assert ok(out["store"]) == [b"* 1 FETCH (FLAGS (\\Draft \\Recent \\Seen))"]
    assert ok(out["search"]) == [b"* SEARCH 1"]
    assert ok(out["fetch"]) == [b"* 1 FETCH (FLAGS (\\Draft \\Recent \\Seen))"]


@pytest_twisted.ensureDeferred
async def test_close_expunges_messages_flagged_deleted_in_lower_case(anyServer):
    for _ in range(3):
        anyServer.deliver(MESSAGE)

    def go():
        a, b = loggedIn(anyServer), loggedIn(anyServer)
        stored = a.command(b"a", b"STORE 1,3 +FLAGS.SILENT \\deleted")
        closed = a.command(b"a", b"CLOSE")
        told = b.command(b"b", b"NOOP")
        left = b.command(b"b", b"FETCH 1:* (FLAGS)")
        return stored, closed, told, left
    stored, closed, told, left = await inThread(go)
    ok(stored)
    ok(closed)
    assert ok(told, b"b") == [b"* 3 EXPUNGE", b"* 1 EXPUNGE"]
    assert ok(left, b"b") == [b"* 1 FETCH (FLAGS ())"]


@pytest_twisted.ensureDeferred
async def test_keywords_in_any_case_are_one_keyword_spelled_as_first_stored(anyServer):
    for _ in range(3):
        anyServer.deliver(MESSAGE)

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        c.command(b"c", b"CREATE Archive")
        out = {}
        out["first"] = c.command(b"a", b"STORE 1 +FLAGS ($Forwarded)")
        out["second"] = c.command(b"a", b"STORE 2 +FLAGS ($FORWARDED)")
        out["search"] = c.command(b"a", b"SEARCH KEYWORD $forwarded")
        out["unsearch"] = c.command(b"a", b"SEARCH UNKEYWORD $fOrWaRdEd")
        out["remove"] = c.command(b"a", b"STORE 2 -FLAGS ($forwarded)")
        out["copy"] = c.command(b"a", b"COPY 1 Archive")
        c.command(b"s", b"SELECT Archive")
        out["copied"] = c.command(b"a", b"FETCH 1 FLAGS")
        return out
    out = await run(anyServer, script)
    assert ok(out["first"])[-1] == b"* 1 FETCH (FLAGS (\\Recent $Forwarded))"
    assert ok(out["second"])[-1] == b"* 2 FETCH (FLAGS (\\Recent $Forwarded))"
    assert ok(out["search"]) == [b"* SEARCH 1 2"]
    assert ok(out["unsearch"]) == [b"* SEARCH 3"]
    assert ok(out["remove"]) == [b"* 2 FETCH (FLAGS (\\Recent))"]
    ok(out["copy"])
    assert ok(out["copied"]) == [b"* 1 FETCH (FLAGS (\\Recent $Forwarded))"]


@pytest_twisted.ensureDeferred
async def test_unknown_system_flags_and_8bit_keywords_are_bad_and_change_nothing(anyServer):
    anyServer.deliver(MESSAGE)

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        return [c.command(b"a", line) for line in (
            b"STORE 1 +FLAGS (\\Frobbed)",
            b"STORE 1 +FLAGS (caf\xe9)",
            appendCommand(b"INBOX", MESSAGE, b"\\Important"),
            appendCommand(b"INBOX", MESSAGE, b"na\xefve"),
            b"SEARCH KEYWORD caf\xe9",
        )] + [c.command(b"b", b"SELECT INBOX"), c.command(b"c", b"FETCH 1:* FLAGS")]
    *bad, select, fetch = await run(anyServer, script)
    assert [r[-1][:5] for r in bad] == [b"a BAD"] * 5, bad
    # (After the OK [CLOSED] of the mailbox selected before, RFC 7162 3.2.11.)
    assert ok(select, b"b")[:2] == [b"* OK [CLOSED] Previous mailbox closed",
                                    b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)"]
    # The first SELECT of this connection claimed \Recent; nothing was stored.
    assert ok(fetch, b"c") == [b"* 1 FETCH (FLAGS ())"]


@pytest_twisted.ensureDeferred
async def test_a_new_keyword_is_announced_before_any_fetch_uses_it(anyServer):
    anyServer.deliver(MESSAGE)

    def go():
        idler = loggedIn(anyServer)
        idler.send(b"I IDLE\r\n")
        assert idler.readline() == b"+ idling"
        other = loggedIn(anyServer)
        storer = loggedIn(anyServer)
        stored = storer.command(b"a", b"STORE 1 +FLAGS ($Important)")
        pushed = [idler.readline() for _ in range(3)]
        idler.send(b"DONE\r\n")
        idler.readUntilTagged(b"I")
        noop = other.command(b"n", b"NOOP")
        again = loggedIn(anyServer).command(b"s", b"SELECT INBOX")
        return stored, pushed, noop, again
    stored, pushed, noop, again = await inThread(go)
    flags = b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Important)"
    permanent = (b"* OK [PERMANENTFLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen "
                 b"$Important \\*)] Flags permitted")
    fetch = b"* 1 FETCH (FLAGS ("
    # The session that stored it, one idling, one not: FLAGS first, then the FETCH.
    assert ok(stored)[:2] == [flags, permanent] and ok(stored)[2].startswith(fetch)
    assert pushed[:2] == [flags, permanent] and pushed[2].startswith(fetch)
    assert ok(noop, b"n")[:2] == [flags, permanent] and ok(noop, b"n")[2].startswith(fetch)
    assert all(b"$Important" in f for f in (ok(stored)[2], pushed[2], ok(noop, b"n")[2]))
    assert flags in again and permanent in again


@pytest_twisted.ensureDeferred
async def test_a_message_appended_with_a_new_keyword_announces_it_first(anyServer):
    def go():
        idler = loggedIn(anyServer)
        idler.send(b"I IDLE\r\n")
        assert idler.readline() == b"+ idling"
        appender = RawClient(anyServer.host, anyServer.port)
        appender.login()
        appender.command(b"a", appendCommand(b"INBOX", MESSAGE, b"$Label1"))
        pushed = [idler.readline() for _ in range(4)]
        idler.send(b"DONE\r\n")
        idler.readUntilTagged(b"I")
        return pushed
    pushed = await inThread(go)
    assert pushed[0].startswith(b"* FLAGS (") and b"$Label1" in pushed[0]
    assert pushed[1].startswith(b"* OK [PERMANENTFLAGS (") and b"$Label1" in pushed[1]
    assert pushed[2:] == [b"* 1 EXISTS", b"* 1 RECENT"]


@pytest_twisted.ensureDeferred
async def test_a_mailbox_whose_keyword_file_holds_an_8bit_entry_can_be_selected(maildirServer):
    home = maildirServer.maildir()
    (home / "dovecot-keywords").write_bytes("0 café\n1 $Fine\n".encode())
    (home / "cur" / "1700000000.M1P1.host:2,ab").write_bytes(MESSAGE)

    def script(c):
        return c.command(b"s", b"SELECT INBOX"), c.command(b"f", b"FETCH 1 FLAGS")
    selected, fetched = await run(maildirServer, script)
    assert ok(selected, b"s")[0] == b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen $Fine)"
    assert ok(fetched, b"f") == [b"* 1 FETCH (FLAGS ($Fine))"]
