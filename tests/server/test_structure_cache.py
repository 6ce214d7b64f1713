"""
FETCH's cache of rendered ENVELOPE and BODYSTRUCTURE: fetched again, by any session, a
message is neither read nor parsed; the cache is bounded by entries, octets and mailboxes.
"""

import pytest_twisted

from idlemail.backends.memory import MemoryMailbox
from idlemail.server.structures import StructureCache
from tests.server.clients import ok, run

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: note %d\r\n"
           b"Content-Type: text/plain\r\n\r\nBody %d.\r\n")


@pytest_twisted.ensureDeferred
async def test_envelope_fetched_again_is_neither_read_nor_parsed(server, monkeypatch):
    for i in range(5):
        server.deliver(MESSAGE % (i, i))
    reads = []
    body = MemoryMailbox.body

    def counted(self, uid):
        reads.append(uid)
        return body(self, uid)
    monkeypatch.setattr(MemoryMailbox, "body", counted)

    def script(c):
        c.command(b"s", b"EXAMINE INBOX")
        return c.command(b"a", b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    first = ok(await run(server, script))
    afterFirst = list(reads)
    second = ok(await run(server, script))  # another session, another connection
    assert afterFirst == [1, 2, 3, 4, 5]
    assert reads == afterFirst  # nothing read the second time
    assert second == first and b'"note 3"' in first[3]


def test_the_cache_is_bounded_by_entries_octets_and_mailboxes():
    cache = StructureCache(maxEntries=3, maxBytes=10_000, maxMailboxes=2)
    a, b, c = object(), object(), object()
    for uid in range(1, 5):
        cache.put(a, (7, uid), "ENVELOPE", b"x" * 10)
    assert cache.get(a, (7, 1)) is None and cache.get(a, (7, 4)) == {"ENVELOPE": b"x" * 10}
    assert cache.entries == 3
    cache.get(a, (7, 2))  # used: now the most recent
    cache.put(a, (7, 5), "ENVELOPE", b"y")
    assert cache.get(a, (7, 2)) is not None and cache.get(a, (7, 3)) is None
    cache.put(b, (1, 1), "BODYSTRUCTURE", b"z" * 600)
    cache.put(c, (1, 1), "BODYSTRUCTURE", b"z" * 600)  # a third mailbox: the oldest goes
    assert cache.get(a, (7, 2)) is None and cache.get(b, (1, 1)) is not None
    assert cache.size <= 10_000
    cache.put(c, (1, 2), "ENVELOPE", b"w" * 5000)  # too big for its share: not kept
    assert cache.get(c, (1, 2)) is None
    assert cache.entries == 2


def slowBodies(monkeypatch, delay=0.05):
    """MemoryMailbox.body answering after C{delay} (as a disk does), counting the reads
    and the most under way at once."""
    from twisted.internet import reactor, task
    body = MemoryMailbox.body
    seen = {"reads": [], "now": 0, "most": 0}

    def slow(self, uid):
        seen["reads"].append(uid)
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])

        def answer():
            seen["now"] -= 1
            return body(self, uid)
        return task.deferLater(reactor, delay, answer)
    monkeypatch.setattr(MemoryMailbox, "body", slow)
    return seen


@pytest_twisted.ensureDeferred
async def test_sessions_fetching_one_new_message_at_once_read_it_once(server, monkeypatch):
    server.deliver(MESSAGE % (1, 1))
    seen = slowBodies(monkeypatch)

    def script(c):
        c.command(b"s", b"EXAMINE INBOX")
        return c.command(b"a", b"FETCH 1 (ENVELOPE BODYSTRUCTURE)")
    from twisted.internet import defer
    answers = await defer.gatherResults([run(server, script) for _ in range(4)])
    assert all(ok(a) == ok(answers[0]) for a in answers)
    assert b'"note 1"' in ok(answers[0])[0]
    assert seen["reads"] == [1]  # one read for the four sessions


@pytest_twisted.ensureDeferred
async def test_a_long_fetch_reads_the_next_messages_while_it_waits_for_one(
        server, monkeypatch):
    for i in range(20):
        server.deliver(MESSAGE % (i, i))
    seen = slowBodies(monkeypatch)

    def script(c):
        c.command(b"s", b"EXAMINE INBOX")
        return c.command(b"a", b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
    lines = ok(await run(server, script))
    assert [int(line.split()[1]) for line in lines] == list(range(1, 21))  # in order
    assert sorted(seen["reads"]) == list(range(1, 21))
    assert 1 < seen["most"] <= 8  # reads overlap, within the read-ahead bound
