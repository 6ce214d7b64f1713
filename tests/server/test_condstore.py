"""
CONDSTORE (RFC 7162 3.1) over real TCP on both backends, after the RFC's examples:
HIGHESTMODSEQ on SELECT and STATUS, FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE
with [MODIFIED], SEARCH MODSEQ, the ways to enable it, and MODSEQ in every flag change
told once it is enabled (pushes during IDLE too).
"""

import re

import pytest_twisted

from tests.server.clients import RawClient, inThread, ok, run
from tests.server.test_flags import loggedIn

MESSAGE = b"From: a@example.org\r\nSubject: modseq\r\n\r\nbody\r\n"


def highest(lines) -> int:
    """The HIGHESTMODSEQ said in these lines (the last one said)."""
    found = [int(m.group(1)) for line in lines
             if (m := re.search(rb"\[HIGHESTMODSEQ (\d+)\]", line))]
    assert found, lines
    return found[-1]


def modseqs(lines) -> dict[int, int]:
    """UID -> MODSEQ of the FETCH responses among these lines."""
    out = {}
    for line in lines:
        m = re.search(rb"UID (\d+)", line)
        n = re.search(rb"MODSEQ \((\d+)\)", line)
        if m and n:
            out[int(m.group(1))] = int(n.group(1))
    return out


def deliver(server, n: int) -> None:
    for i in range(n):
        server.deliver(MESSAGE.replace(b"modseq", b"modseq %d" % i))


@pytest_twisted.ensureDeferred
async def test_condstore_and_qresync_are_advertised(anyServer):
    def go():
        c = RawClient(anyServer.host, anyServer.port)
        return c.greeting, c.command(b"a", b"CAPABILITY")
    greeting, caps = await inThread(go)
    for line in (greeting, caps[0]):
        assert b" CONDSTORE " in line and b" QRESYNC" in line


@pytest_twisted.ensureDeferred
async def test_select_says_highestmodseq_and_each_change_raises_it(anyServer):
    deliver(anyServer, 2)

    def script(c):
        first = c.command(b"a", b"SELECT INBOX")
        c.command(b"a", b"STORE 1 +FLAGS (\\Flagged)")
        second = c.command(b"a", b"EXAMINE INBOX")
        c.command(b"a", b"SELECT INBOX")
        c.command(b"a", b"STORE 2 +FLAGS (\\Deleted)")
        c.command(b"a", b"EXPUNGE")
        third = c.command(b"a", b"EXAMINE INBOX")
        return first, second, third
    first, second, third = await run(anyServer, script)
    # RFC 7162 3.1.2.1: on every SELECT and EXAMINE, a positive number that only grows.
    assert 0 < highest(ok(first)) < highest(ok(second)) < highest(ok(third))


@pytest_twisted.ensureDeferred
async def test_fetch_modseq_gives_each_message_its_modseq(anyServer):
    deliver(anyServer, 3)

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        c.command(b"a", b"STORE 2 +FLAGS (\\Seen)")
        return c.command(b"a", b"FETCH 1:3 (MODSEQ)")
    announced, *lines = ok(await run(anyServer, script))
    # FETCH MODSEQ enabled CONDSTORE with INBOX selected: its HIGHESTMODSEQ comes first.
    assert announced.startswith(b"* OK [HIGHESTMODSEQ ")
    # RFC 7162 3.1.4.1: "* 1 FETCH (MODSEQ (624140003))"
    assert [re.sub(rb"\(\d+\)", b"(n)", line) for line in lines] == [
        b"* 1 FETCH (MODSEQ (n))", b"* 2 FETCH (MODSEQ (n))", b"* 3 FETCH (MODSEQ (n))"]
    values = [int(re.search(rb"\((\d+)\)", line).group(1)) for line in lines]
    assert values[1] > max(values[0], values[2])  # the one changed since delivery
    assert highest([announced]) == values[1]


@pytest_twisted.ensureDeferred
async def test_fetch_changedsince_gives_only_what_changed_with_its_modseq(anyServer):
    deliver(anyServer, 4)

    def script(c):
        mark = highest(c.command(b"s", b"SELECT INBOX (CONDSTORE)"))
        c.command(b"a", b"STORE 2,4 +FLAGS.SILENT ($Label1)")
        return mark, c.command(b"a", b"FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % mark)
    mark, fetched = await run(anyServer, script)
    lines = ok(fetched)
    assert [line.split(b" FETCH")[0] for line in lines] == [b"* 2", b"* 4"]
    assert all(b"$Label1" in line and b"MODSEQ (" in line for line in lines)
    assert all(m > mark for m in modseqs(lines).values())


@pytest_twisted.ensureDeferred
async def test_store_unchangedsince_leaves_what_changed_since_and_says_modified(anyServer):
    deliver(anyServer, 5)

    def go():
        a, b = loggedIn(anyServer), loggedIn(anyServer)
        mark = highest(a.command(b"a", b"FETCH 1:5 (MODSEQ)"))
        b.command(b"b", b"STORE 2,4 +FLAGS (\\Seen)")  # another client's change
        # RFC 7162 3.1.3, example 7: the conditional STORE of messages changed since.
        stored = a.command(b"a", b"STORE 1:5 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Deleted)"
                           % mark)
        uidStored = a.command(b"u", b"UID STORE 1:5 (UNCHANGEDSINCE %d) -FLAGS (\\Deleted)"
                              % mark)
        zero = a.command(b"z", b"STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Answered)")
        after = a.command(b"f", b"FETCH 1:5 (FLAGS)")
        return stored, uidStored, zero, after
    stored, uidStored, zero, after = await inThread(go)
    assert stored[-1].startswith(b"a OK [MODIFIED 2,4]"), stored
    told = [line for line in stored[:-1] if b"\\Deleted" in line]
    # Even .SILENT tells the stored ones, with their MODSEQ (RFC 7162 3.1.3); the other
    # client's change of 2 and 4 is told too, as a push with its MODSEQ.
    assert sorted(modseqs(told)) == [1, 3, 5]
    pushed = [line for line in stored[:-1] if b"\\Seen" in line]
    assert sorted(modseqs(pushed)) == [2, 4]
    # UID STORE names UIDs; 1, 3 and 5 changed in the STORE above, 2 and 4 before.
    assert uidStored[-1].startswith(b"u OK [MODIFIED 1:5]"), uidStored
    # UNCHANGEDSINCE 0 always fails (RFC 7162 3.1.3): every MODSEQ is above it.
    assert zero[-1].startswith(b"z OK [MODIFIED 1]")
    flags = [line.split(b"FLAGS ")[1] for line in ok(after, b"f")]
    assert [b"\\Deleted" in f for f in flags] == [True, False, True, False, True]
    assert not any(b"\\Answered" in f for f in flags)


@pytest_twisted.ensureDeferred
async def test_search_modseq_says_the_highest_modseq_found(anyServer):
    deliver(anyServer, 3)

    def script(c):
        mark = highest(c.command(b"s", b"SELECT INBOX (CONDSTORE)"))
        before = c.command(b"a", b"FETCH 1:2 (UID MODSEQ)")
        stored = c.command(b"a", b"STORE 3 +FLAGS (\\Draft)")
        return (mark, before, stored, c.command(b"a", b"SEARCH MODSEQ %d" % (mark + 1)),
                c.command(b"a", b'SEARCH MODSEQ "/flags/\\\\draft" all %d' % (mark + 1)),
                c.command(b"a", b"UID SEARCH NOT MODSEQ %d" % (mark + 1)),
                c.command(b"a", b"SEARCH MODSEQ 9000000000000000000"))
    mark, before, stored, found, entry, others, none = await run(anyServer, script)
    changed = modseqs(ok(stored))[3]
    # RFC 7162 3.1.5: "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)"
    assert ok(found) == [b"* SEARCH 3 (MODSEQ %d)" % changed]
    assert ok(entry) == [b"* SEARCH 3 (MODSEQ %d)" % changed]
    assert ok(others) == [b"* SEARCH 1 2 (MODSEQ %d)" % max(modseqs(ok(before)).values())]
    assert ok(none) == [b"* SEARCH"]  # nothing found: no MODSEQ


@pytest_twisted.ensureDeferred
async def test_esearch_and_sort_say_the_highest_modseq_found_too(anyServer):
    deliver(anyServer, 3)

    def script(c):
        mark = highest(c.command(b"s", b"SELECT INBOX (CONDSTORE)"))
        stored = c.command(b"a", b"STORE 2:3 +FLAGS (\\Draft)")
        return (stored, c.command(b"e", b"SEARCH RETURN (ALL COUNT) MODSEQ %d" % (mark + 1)),
                c.command(b"o", b"SORT (REVERSE ARRIVAL) UTF-8 MODSEQ %d" % (mark + 1)))
    stored, esearch, sort = await run(anyServer, script)
    changed = max(modseqs(ok(stored)).values())
    # RFC 7162 3.1.5 with RFC 4731: the MODSEQ as a search-return-data item.
    assert ok(esearch, b"e") == [b'* ESEARCH (TAG "e") COUNT 2 ALL 2:3 MODSEQ %d' % changed]
    assert ok(sort, b"o") == [b"* SORT 3 2 (MODSEQ %d)" % changed]


@pytest_twisted.ensureDeferred
async def test_status_highestmodseq_follows_changes_of_a_mailbox_not_selected(anyServer):
    deliver(anyServer, 1)

    def script(c):
        before = c.command(b"a", b"STATUS INBOX (MESSAGES HIGHESTMODSEQ)")
        other = loggedIn(anyServer)
        other.command(b"b", b"STORE 1 +FLAGS (\\Seen)")
        other.close()
        return before, c.command(b"a", b"STATUS INBOX (HIGHESTMODSEQ)")
    before, after = await run(anyServer, script)
    [line] = ok(before)
    m = re.fullmatch(rb'\* STATUS "INBOX" \(MESSAGES 1 HIGHESTMODSEQ (\d+)\)', line)
    assert m, line
    [line] = ok(after)
    assert int(line.split(b"HIGHESTMODSEQ ")[1].rstrip(b")")) > int(m.group(1))


@pytest_twisted.ensureDeferred
async def test_enable_condstore_while_selected_says_highestmodseq(anyServer):
    deliver(anyServer, 1)

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        plain = c.command(b"a", b"STORE 1 +FLAGS (\\Seen)")
        enabled = c.command(b"e", b"ENABLE CONDSTORE")
        again = c.command(b"e", b"ENABLE CONDSTORE")
        stored = c.command(b"a", b"STORE 1 -FLAGS (\\Seen)")
        return plain, enabled, again, stored, c.command(b"f", b"FETCH 1 (FLAGS)")
    plain, enabled, again, stored, fetched = await run(anyServer, script)
    assert ok(plain) == [b"* 1 FETCH (FLAGS (\\Recent \\Seen))"]  # not enabled: as before
    lines = ok(enabled, b"e")
    assert lines[0] == b"* ENABLED CONDSTORE" and highest(lines) > 0
    assert ok(again, b"e") == [b"* ENABLED"]  # on already: nothing newly enabled
    [line] = ok(stored)
    assert re.fullmatch(rb"\* 1 FETCH \(FLAGS \(\\Recent\) UID 1 MODSEQ \(\d+\)\)", line), line
    # Once enabled, flags are told with their MODSEQ, asked for or not.
    [line] = ok(fetched, b"f")
    assert re.fullmatch(rb"\* 1 FETCH \(FLAGS \(\\Recent\) MODSEQ \(\d+\)\)", line), line


@pytest_twisted.ensureDeferred
async def test_idle_pushes_carry_modseq_once_condstore_is_enabled(anyServer):
    deliver(anyServer, 1)

    def go():
        plain, enabled = loggedIn(anyServer), loggedIn(anyServer, b"INBOX (CONDSTORE)")
        for c in (plain, enabled):
            c.send(b"I IDLE\r\n")
            assert c.readline() == b"+ idling"
        other = loggedIn(anyServer)
        other.command(b"x", b"STORE 1 +FLAGS (\\Flagged)")
        return plain.readline(), enabled.readline()
    plain, enabled = await inThread(go)
    # (The first session to select INBOX holds its \\Recent.)
    assert plain == b"* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)"
    assert re.fullmatch(rb"\* 1 FETCH \(FLAGS \(\\Flagged\) UID 1 MODSEQ \(\d+\)\)", enabled)


@pytest_twisted.ensureDeferred
async def test_a_fetch_that_sets_seen_tells_uid_and_modseq_with_condstore(anyServer):
    deliver(anyServer, 1)

    def script(c):
        c.command(b"s", b"SELECT INBOX (CONDSTORE)")
        return c.command(b"a", b"FETCH 1 (BODY[TEXT])")
    lines = ok(await run(anyServer, script))
    # RFC 7162 3.1: a FETCH that sets \\Seen tells the change with UID and MODSEQ.
    assert lines[0].startswith(b"* 1 FETCH (UID 1 BODY[TEXT] {")
    assert re.fullmatch(rb" FLAGS \(\\Recent \\Seen\) MODSEQ \(\d+\)\)", lines[-1]), lines
