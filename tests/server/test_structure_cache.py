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
