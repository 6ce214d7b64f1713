"""
SORT (RFC 5256, with SORT=DISPLAY of RFC 5957 and ESORT of RFC 5267) and THREAD (RFC 5256)
over the wire, on both backends, with raw sockets and with IMAPClient.
"""

import time

import imapclient
import pytest_twisted

from idlemail.server.structures import StructureCache
from idlemail.wire.message import MessageStructure
from tests.server.clients import commands, untagged, RawClient, inThread, ok, run, servedWhileBusy


def mail(subject, date=None, sender=b"x <x@example.org>", to=b"t@example.org", cc=None,
         messageId=None, references=None, inReplyTo=None, body=b"hello\r\n") -> bytes:
    lines = [b"From: " + sender, b"To: " + to, b"Subject: " + subject]
    for name, value in ((b"Date", date), (b"Cc", cc), (b"Message-ID", messageId),
                        (b"References", references), (b"In-Reply-To", inReplyTo)):
        if value is not None:
            lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def append(c, messages, arrivals=None) -> None:
    for i, message in enumerate(messages):
        when = b' "%02d-Jan-2024 10:00:00 +0000"' % arrivals[i] if arrivals else b""
        c.send(b"p APPEND INBOX%s {%d+}\r\n%s\r\n" % (when, len(message), message))
        ok(c.readUntilTagged(b"p"), b"p")
    ok(c.command(b"s", b"SELECT INBOX"), b"s")


SORTED = [
    mail(b"Re: beta", b"Wed, 3 Jan 2024 10:00:00 +0000", b"Zed <zed@example.org>",
         b"Bob <bob@example.org>", body=b"x" * 300),
    mail(b"alpha", b"Tue, 2 Jan 2024 10:00:00 +0000", b"\"Amy\" <mia@example.org>",
         b"carl@example.org", cc=b"dora@example.org", body=b"x" * 100),
    mail(b"[list] Beta", b"Mon, 1 Jan 2024 12:00:00 +0200", b"bea@example.org",
         b"=?UTF-8?Q?Anna?= <zoe@example.org>", cc=b"alf@example.org", body=b"x" * 200),
    mail(b"Fwd: ALPHA", b"Thu, 4 Jan 2024 10:00:00 +0000", b"Carl <abe@example.org>",
         b"Al <al@example.org>", body=b"x" * 50),
    mail(b"gamma", None, b"=?ISO-8859-1?Q?=C9mile?= <emile@example.org>",
         b"ed@example.org", body=b"x" * 400),
]


@pytest_twisted.ensureDeferred
async def test_sort_by_each_key(anyServer):
    # RFC 5256 3's examples, on a mailbox of our own; message 5 has no Date: its arrival
    # (7 Jan) stands in.
    def script(c):
        append(c, SORTED, arrivals=[5, 3, 1, 4, 7])
        return commands(c, (
            b"SORT (SUBJECT) UTF-8 ALL",
            b"SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            b"SORT (DATE) US-ASCII ALL",
            b"SORT (REVERSE ARRIVAL) UTF-8 ALL",
            b"SORT (FROM) UTF-8 ALL",
            b"SORT (TO) UTF-8 ALL",
            b"SORT (CC SIZE) UTF-8 ALL",
            b"SORT (REVERSE SIZE) UTF-8 ALL",
            b"SORT (DISPLAYFROM) UTF-8 ALL",
            b"SORT (DISPLAYTO) UTF-8 ALL",
            b'SORT (SUBJECT) US-ASCII TEXT "not in mailbox"',
            b"SORT (SUBJECT) UTF-8 SINCE 1-Jan-2024 NOT 1",
        ))
    answers = await run(anyServer, script)
    assert untagged(answers) == [
        [b"* SORT 2 4 1 3 5"],
        [b"* SORT 4 2 1 3 5"],
        [b"* SORT 3 2 1 4 5"],
        [b"* SORT 5 1 4 2 3"],
        [b"* SORT 4 3 5 2 1"],  # abe bea emile mia zed (the local parts)
        [b"* SORT 4 1 2 5 3"],  # al bob carl ed zoe
        [b"* SORT 4 1 5 3 2"],  # no Cc first (by size), then alf, dora
        [b"* SORT 5 1 3 2 4"],
        [b"* SORT 2 3 4 1 5"],  # Amy bea@... Carl Zed Émile (i;ascii-casemap: octets)
        [b"* SORT 4 3 1 2 5"],  # Al Anna Bob carl@... ed@...
        [b"* SORT"],
        [b"* SORT 2 4 3 5"],
    ]


@pytest_twisted.ensureDeferred
async def test_uid_sort_esort_and_refusals(anyServer):
    def script(c):
        append(c, SORTED, arrivals=[5, 3, 1, 4, 7])
        ok(c.command(b"d", b"STORE 1 +FLAGS.SILENT (\\Deleted)"), b"d")
        ok(c.command(b"e", b"EXPUNGE"), b"e")
        return commands(c, (
            b"UID SORT (DATE) UTF-8 ALL",
            b"SORT (DATE) UTF-8 ALL",
            b"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL",
            b"UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL",
            b"SORT RETURN (COUNT) (DATE) UTF-8 DELETED",
            b"SORT (DATE) KOI8-R ALL",
            b"SORT (COLOUR) UTF-8 ALL",
            b"SORT () UTF-8 ALL",
            b"SORT (DATE) ALL",
        ))
    answers = await run(anyServer, script)
    assert untagged(answers[:5]) == [
        [b"* SORT 3 2 4 5"],
        [b"* SORT 2 1 3 4"],
        [b'* ESEARCH (TAG "A2") MIN 2 MAX 4 COUNT 4 ALL 2,1,3:4'],
        [b'* ESEARCH (TAG "A3") UID ALL 5,3,2,4'],
        [b'* ESEARCH (TAG "A4") COUNT 0'],
    ]
    assert answers[5][-1].startswith(b"A5 NO [BADCHARSET")
    assert [a[-1][:6] for a in answers[6:]] == [b"A6 BAD", b"A7 BAD", b"A8 BAD"]


THREADED = [
    mail(b"hello", b"Mon, 1 Jan 2024 10:00:00 +0000", messageId=b"<a@x>"),
    mail(b"Re: hello", b"Tue, 2 Jan 2024 10:00:00 +0000", messageId=b"<b@x>",
         inReplyTo=b"<a@x>"),
    mail(b"Re: hello", b"Wed, 3 Jan 2024 10:00:00 +0000", messageId=b"<c@x>",
         references=b"<a@x>\r\n <b@x>"),
    mail(b"other", b"Thu, 4 Jan 2024 10:00:00 +0000", messageId=b"<d@x>",
         references=b"<missing@x>"),
    mail(b"x1", b"Fri, 5 Jan 2024 10:00:00 +0000", messageId=b"<e@x>",
         references=b"<missing2@x>"),
    mail(b"x2", b"Sat, 6 Jan 2024 10:00:00 +0000", messageId=b"<f@x>",
         inReplyTo=b"<missing2@x> (the first)"),
    mail(b"Re: other", b"Sun, 7 Jan 2024 10:00:00 +0000", messageId=b"<g@x>"),
    mail(b"[list] hello", b"Mon, 8 Jan 2024 10:00:00 +0000"),
]


@pytest_twisted.ensureDeferred
async def test_thread_references_and_orderedsubject(anyServer):
    def script(c):
        append(c, THREADED)
        return commands(c, (
            b"THREAD REFERENCES UTF-8 ALL",
            b"THREAD ORDEREDSUBJECT UTF-8 ALL",
            b"UID THREAD REFERENCES US-ASCII NOT 2",
            b'THREAD ORDEREDSUBJECT US-ASCII TEXT "gewp"',
            b"THREAD REFS UTF-8 ALL",
            b"THREAD REFERENCES KOI8-R ALL",
        ))
    answers = await run(anyServer, script)
    assert untagged(answers[:4]) == [
        [b"* THREAD ((1 2 3)(8))(4 7)((5)(6))"],
        [b"* THREAD (1 (2)(3)(8))(4 7)(5)(6)"],
        [b"* THREAD ((1 3)(8))(4 7)((5)(6))"],
        [b"* THREAD"],
    ]
    assert answers[4][-1].startswith(b"A4 BAD")
    assert answers[5][-1].startswith(b"A5 NO [BADCHARSET")


@pytest_twisted.ensureDeferred
async def test_imapclient_sorts_and_threads(anyServer):
    def go():
        with imapclient.IMAPClient(anyServer.host, port=anyServer.port, ssl=False,
                                   timeout=10) as client:
            client.login("alice", "alicepw")
            for message in THREADED:
                client.append("INBOX", message)
            client.select_folder("INBOX")
            return (client.sort(["REVERSE DATE"]), client.sort("SUBJECT", "UNSEEN"),
                    client.thread("REFERENCES"))
    byDate, bySubject, threads = await inThread(go)
    assert byDate == [8, 7, 6, 5, 4, 3, 2, 1]
    assert bySubject == [1, 2, 3, 8, 4, 7, 5, 6]
    assert threads == (((1, 2, 3), (8,)), (4, 7), ((5,), (6,)))


@pytest_twisted.ensureDeferred
async def test_sort_reads_each_header_once_then_uses_the_cache(server, monkeypatch):
    for i in range(50):
        server.deliver(mail(b"note %d" % (i % 7)))
    parsed = []
    parse = MessageStructure.parse

    def counted(raw):
        parsed.append(1)
        return parse(raw)
    monkeypatch.setattr(MessageStructure, "parse", staticmethod(counted))

    def script(c):
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        first = c.command(b"a", b"SORT (SUBJECT) UTF-8 ALL")
        count = len(parsed)
        return first, count, c.command(b"a", b"THREAD REFERENCES UTF-8 ALL"), len(parsed)
    first, afterSort, thread, afterThread = await run(server, script)
    assert ok(first)[0].startswith(b"* SORT 1 8 15 ")
    assert afterSort == 50 and afterThread == 50, (afterSort, afterThread)
    assert ok(thread)[0].startswith(b"* THREAD ((1)(8)(15)")


@pytest_twisted.ensureDeferred
async def test_a_long_sort_or_thread_leaves_others_served(server, monkeypatch):
    for i in range(500):
        server.deliver(mail(b"note %d" % (i % 40), messageId=b"<%d@x>" % i,
                            references=b"<%d@x>" % (i // 2)))
    parse = MessageStructure.parse

    def slowParse(raw):  # a costly header: 2 ms of work on the reactor thread
        time.sleep(0.002)
        return parse(raw)
    monkeypatch.setattr(MessageStructure, "parse", staticmethod(slowParse))

    def go(line):
        c = RawClient(server.host, server.port)
        c.login()
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        c.send(b"x " + line + b"\r\n")
        exchange, answeredBefore = servedWhileBusy(server, c, b"x")
        answer = c.readUntilTagged(b"x")
        c.close()
        return exchange, answeredBefore, answer
    for line in (b"SORT (SUBJECT DATE) UTF-8 ALL", b"THREAD REFERENCES UTF-8 ALL"):
        server.factory.structures = StructureCache()  # nothing cached: every header is read
        exchange, answeredBefore, answer = await inThread(go, line)
        assert exchange[-1].startswith(b"n OK")
        assert not answeredBefore
        assert len(ok(answer, b"x")) == 1


@pytest_twisted.ensureDeferred
async def test_a_group_sorts_by_its_name_as_its_envelope_lists_it_first(anyServer):
    # imaptest's sort-addresses and sort-display-to: the first address of a group header
    # is the group's start marker (RFC 3501 7.4.2), whose mailbox is the group's name.
    def script(c):
        append(c, [
            mail(b"1", to=b"foo bar <a@b.c>", cc=b"user2@domain2.org (foo bar)"),
            mail(b"2", to=b"b@c.d", cc=b"user2: blah@domain1.org;"),
            mail(b"3", to=b"a: xx@xx.org, yy@yy.org;", cc=b"user1@domain1.org"),
            mail(b"4", to=b"empty:;", cc=b"user3@domain1.org"),
            mail(b"5", to=b"=?iso-8859-1?q?foo_car?= <f@g.h>", cc=b"zed@z.org"),
        ])
        return untagged(commands(c, (b"SORT (CC) US-ASCII ALL",
                                     b"SORT (REVERSE CC) US-ASCII ALL",
                                     b"SORT (DISPLAYTO) US-ASCII ALL")))
    cc, reverse, display = await run(anyServer, script)
    assert cc == [b"* SORT 3 1 2 4 5"]  # user1, user2, user2 (the group), user3, zed
    assert reverse == [b"* SORT 5 4 1 2 3"]  # ties stay in sequence order
    assert display == [b"* SORT 3 2 4 1 5"]  # a, b@c.d, empty, foo bar, foo car
