"""
A FETCH of metadata alone (UID, FLAGS, MODSEQ, INTERNALDATE, RFC822.SIZE: a client's
resync) is rendered line by line and written a chunk at a time: every message once, in
order, with its own flags, and the same items as a FETCH that also reads the message.
"""

import re

import pytest_twisted

from tests.server.clients import ok, run

MANY = 6000  # well over one 64 kB chunk of FETCH lines


@pytest_twisted.ensureDeferred
async def test_a_resync_of_thousands_answers_every_message_once_in_order(server):
    for n in range(MANY):
        server.backend.deliver("alice", b"Subject: %d\r\n\r\nbody\r\n" % n,
                       flags=("\\Seen",) if n % 3 == 0 else ("$Label%d" % (n % 5),))

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        return c.command(b"a", b"UID FETCH 1:* (FLAGS)")
    lines = ok(await run(server, script))
    assert len(lines) == MANY
    for n, line in enumerate(lines):
        # The first SELECT makes them all \Recent in this session.
        flags = b"(\\Recent \\Seen)" if n % 3 == 0 else b"(\\Recent $Label%d)" % (n % 5)
        assert line == b"* %d FETCH (UID %d FLAGS %s)" % (n + 1, n + 1, flags)


@pytest_twisted.ensureDeferred
async def test_metadata_items_read_the_same_alone_as_beside_a_section(server):
    for n in range(3):
        server.backend.deliver("alice", b"X-N: %d\r\nSubject: s\r\n\r\nbody\r\n" % n,
                               flags=("\\Flagged",))
    items = b"RFC822.SIZE FLAGS INTERNALDATE UID MODSEQ"

    def script(c):
        c.command(b"s", b"SELECT INBOX")
        alone = c.command(b"a", b"FETCH 1:* (" + items + b")")
        beside = c.command(b"a", b"FETCH 1:* (" + items + b" BODY.PEEK[HEADER.FIELDS (X-N)])")
        return alone, beside
    alone, beside = await run(server, script)
    alone, beside = ([line for line in ok(r) if b" FETCH (" in line] for r in (alone, beside))
    assert len(alone) == 3 and all(b"FLAGS (\\Flagged \\Recent)" in line for line in alone)
    # The section comes as a literal: the line up to it has the same items, in order.
    assert [re.sub(rb" BODY\[HEADER.*", b")", line) for line in beside] == alone
