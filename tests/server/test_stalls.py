"""
No single command stalls the reactor: LIST patterns match in linear time, sequence sets are
merged before they are resolved, and SEARCH and FETCH work through messages in slices, so
another connection is greeted and answered while they run.
"""

import time

import pytest_twisted
from twisted.internet import reactor

from idlemail.server import sequences
from idlemail.wire.command import SequenceSet
from idlemail.wire.message import MessageStructure
from tests.server.clients import RawClient, inThread, ok, servedWhileBusy


def note(i: int) -> bytes:
    return (b"From: list%d@big.test\r\nTo: big@big.test\r\nSubject: note %d\r\n\r\n"
            b"The weekly notes, number %d.\r\n" % (i % 50, i, i)
            + b"Lorem ipsum dolor sit amet.\r\n" * 16)


def startCommand(server, line: bytes, mailbox: bytes | None = b"INBOX") -> RawClient:
    c = RawClient(server.host, server.port)
    c.login()
    if mailbox:
        c.command(b"s", b"SELECT " + mailbox)
    c.send(b"x " + line + b"\r\n")
    return c


@pytest_twisted.ensureDeferred
async def test_list_with_a_thousand_stars_on_a_long_name_is_answered(server):
    name = b"a" * 200
    patterns = [
        b"*" * 500 + b"..." + b"*" * 500,  # the attack's shape: no name has "..."
        b"*a" * 1000 + b"*",  # 1,000 stars between letters: more a's than the name has
        b"*a" * 100 + b"*",  # 101 stars that do match
    ]

    def go():
        c = RawClient(server.host, server.port)
        c.login()
        ok(c.command(b"c", b"CREATE " + name), b"c")
        c.send(b"".join(b'x%d LIST "" "%s"\r\n' % (i, p) for i, p in enumerate(patterns)))
        answers = [c.readUntilTagged(b"x%d" % i) for i in range(len(patterns))]
        exchange, _ = servedWhileBusy(server, c, b"z")
        c.close()
        return answers, exchange
    answers, exchange = await inThread(go)
    listed = [ok(a, b"x%d" % i) for i, a in enumerate(answers)]
    assert listed == [[], [], [b'* LIST (\\HasNoChildren) "/" "' + name + b'"']]
    assert exchange[-1].startswith(b"n OK")


def test_sequence_sets_are_merged_before_they_are_resolved():
    seqset = SequenceSet(((5, 9), (1, 2), (3, 3), (26, 25), (20, None), (12, 12)))
    assert sequences.mergedRanges(seqset, 30) == [(1, 3), (5, 9), (12, 12), (20, 30)]
    numbers = sequences.NumberSet(sequences.mergedRanges(seqset, 30))
    assert [n for n in range(0, 32) if n in numbers] == [1, 2, 3, 5, 6, 7, 8, 9, 12] + list(
        range(20, 31))


@pytest_twisted.ensureDeferred
async def test_64kb_sequence_sets_on_5000_messages_are_answered_at_once(server):
    for i in range(5000):
        server.deliver(note(i))
    # Thousands of ranges that name no message (UID sets may), then every message: each
    # UID is checked against all of them unless the set is merged and bisected.
    parts, size = [], 0
    while size < 63000:
        parts.append(b"%d" % (100001 + 2 * len(parts)))
        size += len(parts[-1]) + 1
    seqset = b",".join(parts) + b",1:*"

    def go():
        c = startCommand(server, b"UID FETCH " + seqset + b" (FLAGS)")
        c.send(b"".join(b"x%d UID FETCH %s (FLAGS)\r\n" % (i, seqset) for i in range(3)))
        answers = [c.readUntilTagged(tag) for tag in (b"x", b"x0", b"x1", b"x2")]
        c.close()
        return answers
    # A generous deadline for all four: checking each UID against every range instead
    # took 4 s per command on the machine this was written on.
    answers = await inThread(go).addTimeout(5, reactor)
    assert [len(ok(a, tag)) for a, tag in zip(answers, (b"x", b"x0", b"x1", b"x2"))] == [5000] * 4


@pytest_twisted.ensureDeferred
async def test_a_search_of_many_text_keys_leaves_others_served(server):
    for i in range(3000):
        server.deliver(note(i))
    keys = b" ".join(b"NOT TEXT zz%d" % k for k in range(300))  # each holds for all

    def go():
        c = startCommand(server, b"SEARCH " + keys)
        exchange, answeredBefore = servedWhileBusy(server, c, b"x")
        answer = c.readUntilTagged(b"x")
        c.close()
        return exchange, answeredBefore, answer
    exchange, answeredBefore, answer = await inThread(go)
    assert exchange[0].startswith(b"* OK") and exchange[-1].startswith(b"n OK")
    assert not answeredBefore  # the other client was served while SEARCH ran
    [found] = ok(answer, b"x")
    assert found == b"* SEARCH " + b" ".join(b"%d" % n for n in range(1, 3001))


@pytest_twisted.ensureDeferred
async def test_a_long_fetch_leaves_others_served(server, monkeypatch):
    for i in range(1000):
        server.deliver(note(i))
    parse = MessageStructure.parse

    def slowParse(raw):  # a costly message: 2 ms of work on the reactor thread
        time.sleep(0.002)
        return parse(raw)
    monkeypatch.setattr(MessageStructure, "parse", staticmethod(slowParse))

    def go():
        c = startCommand(server, b"FETCH 1:* (ENVELOPE)")
        exchange, answeredBefore = servedWhileBusy(server, c, b"x")
        answer = c.readUntilTagged(b"x")
        c.close()
        return exchange, answeredBefore, answer
    exchange, answeredBefore, answer = await inThread(go)
    assert exchange[-1].startswith(b"n OK")
    assert not answeredBefore
    assert len(ok(answer, b"x")) == 1000
