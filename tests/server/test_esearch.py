"""
ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) over the wire, on both backends, from the
RFCs' examples: SEARCH RETURN (MIN MAX COUNT ALL SAVE), and C{$} in later commands.
"""

import re

import pytest_twisted

from tests.server.clients import appendCommand, ok, run


def message(n: int, sender: bytes = b"Jones") -> bytes:
    return b"From: %s <x@example.org>\r\nSubject: number %d\r\n\r\nbody %d\r\n" % (sender, n, n)


def fill(c, flagged=(), smith=(), count=12):
    """Messages 1..count in INBOX (UIDs 1..count); some \\Flagged, some from Smith."""
    for n in range(1, count + 1):
        flags = b"\\Flagged" if n in flagged else b""
        c.send(b"p " + appendCommand(b"INBOX", message(n, b"Smith" if n in smith else b"Jones"),
                                     flags) + b"\r\n")
        ok(c.readUntilTagged(b"p"), b"p")
    ok(c.command(b"s", b"SELECT INBOX"), b"s")


@pytest_twisted.ensureDeferred
async def test_result_options_min_max_count_all(anyServer):
    # RFC 4731 3.1's examples, on a mailbox of our own.
    def script(c):
        fill(c, flagged=(2, 5, 10, 11), smith=(5,))
        return [c.command(tag, text) for tag, text in (
            (b"A282", b'SEARCH RETURN (MIN COUNT) FLAGGED NOT FROM "Smith"'),
            (b"A283", b'SEARCH RETURN () FLAGGED NOT FROM "Smith"'),
            (b"A284", b"SEARCH RETURN (MIN) UNFLAGGED"),
            (b"A285", b"UID SEARCH RETURN (MIN MAX) 1:5000"),
            (b"A286", b"SEARCH RETURN (COUNT MAX ALL) DELETED"),
            (b"A287", b"UID SEARCH RETURN (ALL) DELETED"),
            (b"A288", b"SEARCH RETURN (BOGUS) ALL"),
        )]
    answers = await run(anyServer, script)
    assert [ok(a, a[-1].split()[0]) for a in answers[:6]] == [
        [b'* ESEARCH (TAG "A282") MIN 2 COUNT 3'],
        [b'* ESEARCH (TAG "A283") ALL 2,10:11'],
        [b'* ESEARCH (TAG "A284") MIN 1'],
        [b'* ESEARCH (TAG "A285") UID MIN 1 MAX 12'],
        [b'* ESEARCH (TAG "A286") COUNT 0'],
        [b'* ESEARCH (TAG "A287") UID'],
    ]
    assert answers[6][-1].startswith(b"A288 BAD")


@pytest_twisted.ensureDeferred
async def test_saved_result_is_used_by_later_commands(anyServer):
    # RFC 5182 3: SAVE, then $ in FETCH, STORE, SEARCH, COPY and MOVE, plain and UID forms.
    def script(c):
        fill(c, flagged=(2, 5, 10), smith=(10,))
        ok(c.command(b"c", b"CREATE foo"), b"c")
        saved = c.command(b"A282", b'SEARCH RETURN (SAVE) FLAGGED NOT FROM "Smith"')
        return (saved, c.command(b"A283", b"FETCH $ (UID)"),
                c.command(b"A284", b"STORE $ +FLAGS (\\Answered)"),
                c.command(b"A285", b"UID SEARCH UID $ SMALLER 4096"),
                c.command(b"A286", b"SEARCH $ ANSWERED"),
                c.command(b"A287", b"UID COPY $ foo"),
                c.command(b"A288", b"UID FETCH $ (FLAGS)"),
                c.command(b"A289", b"MOVE $ foo"),
                c.command(b"A290", b"FETCH $ (UID)"))
    (saved, fetched, stored, uidSearch, search, copied, uidFetch, moved,
     after) = await run(anyServer, script)
    assert saved == [b"A282 OK SEARCH completed"]  # SAVE alone: no ESEARCH (RFC 5182 2.4)
    assert ok(fetched, b"A283") == [b"* 2 FETCH (UID 2)", b"* 5 FETCH (UID 5)"]
    assert ok(stored, b"A284") == [b"* 2 FETCH (FLAGS (\\Answered \\Flagged \\Recent))",
                                   b"* 5 FETCH (FLAGS (\\Answered \\Flagged \\Recent))"]
    assert ok(uidSearch, b"A285") == [b"* SEARCH 2 5"]
    assert ok(search, b"A286") == [b"* SEARCH 2 5"]
    assert copied[-1].startswith(b"A287 OK [COPYUID ") and copied[-1].split()[4] == b"2,5"
    assert ok(uidFetch, b"A288") == [b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Flagged \\Recent))",
                                     b"* 5 FETCH (UID 5 FLAGS (\\Answered \\Flagged \\Recent))"]
    assert b"* 5 EXPUNGE" in moved and b"* 2 EXPUNGE" in moved
    assert after == [b"A290 OK FETCH completed"]  # moved away: $ names nothing left


@pytest_twisted.ensureDeferred
async def test_save_with_min_or_max_saves_only_those(anyServer):
    # RFC 5182 2.4.
    def script(c):
        fill(c, flagged=(3, 4, 8), count=9)
        both = c.command(b"a", b"SEARCH RETURN (SAVE MIN MAX) FLAGGED")
        bothSaved = c.command(b"b", b"UID SEARCH UID $")
        c.command(b"c", b"SEARCH RETURN (MAX SAVE) FLAGGED")
        maxSaved = c.command(b"d", b"SEARCH $")
        c.command(b"e", b"SEARCH RETURN (SAVE COUNT) FLAGGED")
        return both, bothSaved, maxSaved, c.command(b"f", b"SEARCH $")
    both, bothSaved, maxSaved, counted = await run(anyServer, script)
    assert ok(both) == [b'* ESEARCH (TAG "a") MIN 3 MAX 8']
    assert ok(bothSaved, b"b") == [b"* SEARCH 3 8"]
    assert ok(maxSaved, b"d") == [b"* SEARCH 8"]
    assert ok(counted, b"f") == [b"* SEARCH 3 4 8"]


@pytest_twisted.ensureDeferred
async def test_saved_result_is_reset(anyServer):
    # RFC 5182 2.1: by SELECT, by a SAVE that matched nothing, by a SAVE that failed; an
    # expunged message leaves it.
    def script(c):
        fill(c, flagged=(1, 2, 3), count=4)
        c.command(b"a", b"SEARCH RETURN (SAVE) FLAGGED")
        ok(c.command(b"d", b"STORE 1 +FLAGS.SILENT (\\Deleted)"), b"d")
        ok(c.command(b"x", b"EXPUNGE"), b"x")
        afterExpunge = c.command(b"b", b"UID SEARCH $")
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        afterSelect = c.command(b"c", b"SEARCH $")
        c.command(b"e", b"SEARCH RETURN (SAVE) FLAGGED")
        c.command(b"f", b"SEARCH RETURN (SAVE) DELETED")
        afterNothing = c.command(b"g", b"FETCH $ (UID)")
        c.command(b"h", b"SEARCH RETURN (SAVE) FLAGGED")
        failed = c.command(b"i", b"SEARCH RETURN (SAVE) CHARSET KOI8-R FLAGGED")
        return afterExpunge, afterSelect, afterNothing, failed, c.command(b"j", b"SEARCH $")
    afterExpunge, afterSelect, afterNothing, failed, afterFailure = await run(anyServer, script)
    assert ok(afterExpunge, b"b") == [b"* SEARCH 2 3"]
    assert ok(afterSelect, b"c") == [b"* SEARCH"]
    assert afterNothing == [b"g OK FETCH completed"]
    assert failed[-1].startswith(b"i NO [BADCHARSET")
    assert ok(afterFailure, b"j") == [b"* SEARCH"]


@pytest_twisted.ensureDeferred
async def test_modseq_of_an_esearch_is_the_highest_of_the_messages_it_returns(anyServer):
    # RFC 7162 3.1.5 with RFC 4731, as imaptest's esearch-condstore checks it: RETURN (MIN)
    # or (MAX) returns one message, and the MODSEQ said is that message's.
    def script(c):
        fill(c, count=4)
        ok(c.command(b"e", b"FETCH 1 (MODSEQ)"), b"e")  # enables CONDSTORE
        modseq = {}
        for n in (1, 3, 2, 4):  # so that 2 ends with a higher MODSEQ than 3
            line = ok(c.command(b"f", b"STORE %d +FLAGS (\\Seen)" % n), b"f")[-1]
            modseq[n] = int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))
        answers = [ok(c.command(b"t", text), b"t") for text in (
            b'SEARCH RETURN (MIN) 1:3 MODSEQ "/flags/\\\\seen" all 1',
            b'SEARCH RETURN (MAX) 1:3 MODSEQ "/flags/\\\\seen" all 1',
            b'SEARCH RETURN () 1:3 MODSEQ "/flags/\\\\seen" all 1',
            b'SEARCH RETURN (MIN MAX) 2:3 MODSEQ "/flags/\\\\seen" all 1')]
        return modseq, answers
    modseq, answers = await run(anyServer, script)
    assert [a[-1] for a in answers] == [
        b'* ESEARCH (TAG "t") MIN 1 MODSEQ %d' % modseq[1],
        b'* ESEARCH (TAG "t") MAX 3 MODSEQ %d' % modseq[3],
        b'* ESEARCH (TAG "t") ALL 1:3 MODSEQ %d' % modseq[2],
        b'* ESEARCH (TAG "t") MIN 2 MAX 3 MODSEQ %d' % modseq[2]]
