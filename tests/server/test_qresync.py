"""
QRESYNC (RFC 7162 3.2) over real TCP on both backends, after the RFC's examples: ENABLE,
SELECT with QRESYNC parameters answering VANISHED (EARLIER) and the changed flags in one
pass, UID FETCH (CHANGEDSINCE n VANISHED), expunges told as VANISHED (idlers too), the
CLOSED response, and the conservative answer once the expunges asked about are forgotten.
"""

import re

import pytest_twisted

from tests.server.clients import RawClient, inThread, ok, run
from tests.server.test_condstore import deliver, highest, loggedIn, modseqs


def validity(lines) -> int:
    return next(int(re.search(rb"UIDVALIDITY (\d+)", line).group(1)) for line in lines
                if b"UIDVALIDITY" in line)


def qresyncClient(server) -> RawClient:
    c = RawClient(server.host, server.port)
    c.login()
    assert ok(c.command(b"e", b"ENABLE QRESYNC"), b"e") == [b"* ENABLED QRESYNC"]
    return c


def expunge(server, *seqs) -> None:
    other = loggedIn(server)
    other.command(b"x", b"STORE %s +FLAGS.SILENT (\\Deleted)" % b",".join(b"%d" % s for s in seqs))
    other.command(b"x", b"EXPUNGE")
    other.close()


def store(server, seqs: bytes, flags: bytes) -> None:
    other = loggedIn(server)
    other.command(b"x", b"STORE " + seqs + b" +FLAGS.SILENT (" + flags + b")")
    other.close()


async def awayAndBack(server, select):
    """Six messages; the client notes UIDVALIDITY and HIGHESTMODSEQ and leaves; others
    expunge 2 and 4 and flag 3 and 6; the client selects with C{select(v, m)}."""
    deliver(server, 6)

    def go():
        c = qresyncClient(server)
        lines = c.command(b"s", b"SELECT INBOX")
        c.close()
        v, m = validity(lines), highest(lines)
        expunge(server, 2, 4)  # UIDs 2 and 4
        store(server, b"2,4", b"$Seen1")  # now UIDs 3 and 6
        c = qresyncClient(server)
        return v, m, c.command(b"s", select(v, m))
    return await inThread(go)


@pytest_twisted.ensureDeferred
async def test_select_qresync_says_what_vanished_and_what_changed_in_one_pass(anyServer):
    v, m, lines = await awayAndBack(anyServer, lambda v, m: b"SELECT INBOX (QRESYNC (%d %d))"
                                    % (v, m))
    lines = ok(lines, b"s")
    # RFC 7162 3.2.5.1: after HIGHESTMODSEQ, the VANISHED (EARLIER), then the FETCHes.
    at = next(i for i, line in enumerate(lines) if b"HIGHESTMODSEQ" in line)
    assert lines[at + 1] == b"* VANISHED (EARLIER) 2,4"
    assert [line.split(b" (")[0] for line in lines[at + 2:]] == [b"* 2 FETCH", b"* 4 FETCH"]
    changed = modseqs(lines[at + 2:])
    assert sorted(changed) == [3, 6] and all(n > m for n in changed.values())
    assert all(b"$Seen1" in line for line in lines[at + 2:])
    assert b"* 4 EXISTS" in lines


@pytest_twisted.ensureDeferred
async def test_known_uids_narrow_the_answer(anyServer):
    v, m, lines = await awayAndBack(anyServer, lambda v, m: b"SELECT INBOX (QRESYNC (%d %d 3:5))"
                                    % (v, m))
    lines = ok(lines, b"s")
    assert b"* VANISHED (EARLIER) 4" in lines
    assert sorted(modseqs(lines)) == [3]


@pytest_twisted.ensureDeferred
async def test_another_uidvalidity_is_a_plain_select(anyServer):
    v, m, lines = await awayAndBack(anyServer, lambda v, m: b"EXAMINE INBOX (QRESYNC (%d %d))"
                                    % (v + 1, m))
    lines = ok(lines, b"s")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in lines)


@pytest_twisted.ensureDeferred
async def test_qresync_parameters_without_enable_are_bad(anyServer):
    def script(c):
        return c.command(b"s", b"SELECT INBOX (QRESYNC (1 1))")
    assert (await run(anyServer, script))[-1].startswith(b"s BAD")


@pytest_twisted.ensureDeferred
async def test_uid_fetch_changedsince_vanished(anyServer):
    deliver(anyServer, 5)

    def go():
        c = qresyncClient(anyServer)
        mark = highest(c.command(b"s", b"SELECT INBOX"))
        expunge(anyServer, 2)
        store(anyServer, b"3", b"\\Answered")  # UID 4 now
        # RFC 7162 3.2.6: VANISHED (EARLIER) for the UIDs of the set, then the FETCHes.
        fetched = c.command(b"a", b"UID FETCH 1:4 (FLAGS) (CHANGEDSINCE %d VANISHED)" % mark)
        plain = c.command(b"b", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        return fetched, plain
    fetched, plain = await inThread(go)
    assert fetched[0] == b"* VANISHED (EARLIER) 2"
    assert re.fullmatch(rb"\* 4 FETCH \(UID 4 FLAGS \(\\Answered \\Recent\) MODSEQ \(\d+\)\)",
                        fetched[1]), fetched
    assert fetched[-1].startswith(b"a OK")
    # The VANISHED / EXPUNGE pending for this session goes out after the UID FETCH.
    assert fetched[2:-1] == [b"* VANISHED 2", *fetched[3:-1]]
    assert plain[-1].startswith(b"b BAD")  # VANISHED is for UID FETCH only


@pytest_twisted.ensureDeferred
async def test_expunges_are_vanished_for_qresync_sessions_idling_or_not(anyServer):
    deliver(anyServer, 4)

    def go():
        plain, resyncing = loggedIn(anyServer), qresyncClient(anyServer)
        resyncing.command(b"s", b"SELECT INBOX")
        idler = qresyncClient(anyServer)
        idler.command(b"s", b"SELECT INBOX")
        idler.send(b"I IDLE\r\n")
        assert idler.readline() == b"+ idling"
        plain.command(b"a", b"STORE 2:3 +FLAGS.SILENT (\\Deleted)")
        expunged = plain.command(b"a", b"EXPUNGE")
        pushed = [idler.readline()]
        while not pushed[-1].startswith(b"* OK [HIGHESTMODSEQ"):
            pushed.append(idler.readline())
        idler.send(b"DONE\r\n")
        idler.readUntilTagged(b"I")
        return expunged, resyncing.command(b"n", b"NOOP"), pushed
    expunged, told, pushed = await inThread(go)
    assert ok(expunged) == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"]  # QRESYNC not enabled there
    lines = ok(told, b"n")
    assert lines[0] == b"* VANISHED 2:3"  # RFC 7162 3.2.10
    # The idler: the \\Deleted flags as they were stored, then the expunge.
    assert [line.split(b" (")[0] for line in pushed[:2]] == [b"* 2 FETCH", b"* 3 FETCH"]
    assert pushed[2] == b"* VANISHED 2:3"
    # ... and how far that took HIGHESTMODSEQ, so a resync starts after the expunge.
    assert highest(told) == highest(pushed[3:]) > max(modseqs(pushed[:2]).values())


@pytest_twisted.ensureDeferred
async def test_expunge_command_says_highestmodseq_in_its_tagged_ok(anyServer):
    deliver(anyServer, 2)

    def go():
        c = qresyncClient(anyServer)
        mark = highest(c.command(b"s", b"SELECT INBOX"))
        c.command(b"a", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        return mark, c.command(b"x", b"EXPUNGE")
    mark, lines = await inThread(go)
    assert lines[0] == b"* VANISHED 1"
    assert re.fullmatch(rb"x OK \[HIGHESTMODSEQ (\d+)\] EXPUNGE completed", lines[1])
    assert highest(lines) > mark


@pytest_twisted.ensureDeferred
async def test_select_of_another_mailbox_says_closed_first(anyServer):
    def script(c):
        c.command(b"c", b"CREATE Other")
        first = c.command(b"s", b"SELECT INBOX")
        second = c.command(b"s", b"EXAMINE Other")
        failed = c.command(b"s", b"SELECT Nowhere")
        return first, second, failed
    first, second, failed = await run(anyServer, script)
    assert not any(b"CLOSED" in line for line in first)
    assert ok(second, b"s")[0] == b"* OK [CLOSED] Previous mailbox closed"  # RFC 7162 3.2.11
    assert failed[0] == b"* OK [CLOSED] Previous mailbox closed" and failed[-1].startswith(b"s NO")


@pytest_twisted.ensureDeferred
async def test_below_what_is_remembered_the_answer_is_conservative(server):
    """Memory backend with room for one expunged UID: an older MODSEQ gets every known
    UID that is not there, narrowed by the client's sequence match data."""
    deliver(server, 6)
    server.backend.users["alice"].mailboxes["INBOX"].expunged.limit = 1

    def go():
        c = qresyncClient(server)
        lines = c.command(b"s", b"SELECT INBOX")
        c.close()
        v, m = validity(lines), highest(lines)
        expunge(server, 2)
        expunge(server, 4)  # UID 5: the record keeps only this one
        c = qresyncClient(server)
        # m + 1 and m + 2: the STORE and the EXPUNGE of UID 2, m + 4 the EXPUNGE of 5.
        exact = c.command(b"s", b"EXAMINE INBOX (QRESYNC (%d %d))" % (v, m + 2))
        wide = c.command(b"s", b"EXAMINE INBOX (QRESYNC (%d %d 1:8))" % (v, m))
        # The client saw 1:6 as UIDs 1:6; seq 1 is still UID 1, seq 2 is not UID 2.
        narrowed = c.command(b"s", b"EXAMINE INBOX (QRESYNC (%d %d 1:6 (1,2 1,2)))" % (v, m))
        return exact, wide, narrowed
    exact, wide, narrowed = await inThread(go)
    assert b"* VANISHED (EARLIER) 5" in exact  # 2 was expunged at m + 2: not asked
    # Forgotten how far back: every known UID not there (below UIDNEXT), 2 and 5.
    assert b"* VANISHED (EARLIER) 2,5" in wide
    assert b"* VANISHED (EARLIER) 2,5" in narrowed  # matched only up to UID 1
