"""
The client's literals and its typed command helpers (what the remote backend sends
upstream), against idlemail's own server on 127.0.0.1.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from idlemail.client import commands
from idlemail.client.protocol import IMAPClientProtocol
from idlemail.testing import listenLocal, memoryBackend
from idlemail.wire.encode import dateTime
from idlemail.wire.message import Section

MESSAGE = b"From: a@example.org\r\nSubject: helpers\r\n\r\nsome text\r\n"


@pytest_twisted.async_yield_fixture
async def served():
    backend = memoryBackend({"alice": "alicepw", "quote": 'p"a\\ss', "umlaut": "pässwort"})
    port, factory = listenLocal(backend)
    opened = []

    async def connect(user="alice", password="alicepw", literalPlus=True):
        proto = IMAPClientProtocol()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port),
                              proto)
        await proto.greeted
        opened.append(proto)
        if not literalPlus:  # as with a server that does not offer LITERAL+
            proto.capabilities = proto.capabilities - {"LITERAL+"}
        await proto.login(user, password)
        if not literalPlus:  # its answer to LOGIN said it again
            proto.capabilities = proto.capabilities - {"LITERAL+"}
        return proto
    connect.backend = backend
    yield connect
    for proto in opened:
        if proto.transport is not None:
            proto.transport.abortConnection()
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await port.stopListening()


def within(d, seconds: float = 10):
    return defer.ensureDeferred(d).addTimeout(seconds, reactor)


@pytest_twisted.ensureDeferred
async def test_a_synchronizing_literal_waits_for_the_go_ahead_and_holds_later_commands(served):
    proto = await served(literalPlus=False)
    sent = []
    write = proto.transport.write
    proto.transport.write = lambda data: (sent.append(data), write(data))
    appended = defer.ensureDeferred(commands.append(proto, "INBOX", MESSAGE, ["\\Seen"]))
    noop = proto.noop()  # sent at once, it would be read as the literal's octets
    validity, uid = await within(appended)
    await within(noop)
    assert sent[0].endswith(b"{%d}\r\n" % len(MESSAGE))  # no "+": wait for the server
    assert sent[1] == MESSAGE + b"\r\n" and b"NOOP" in sent[2]
    assert uid == 1 and validity == served.backend.users["alice"].mailboxes["INBOX"].uidValidity
    assert served.backend.users["alice"].mailboxes["INBOX"].messages[1].body == MESSAGE


@pytest_twisted.ensureDeferred
async def test_passwords_with_quotes_or_8_bit_octets_log_in(served):
    for user, password, literalPlus in (("quote", 'p"a\\ss', True), ("umlaut", "pässwort", True),
                                        ("umlaut", "pässwort", False)):
        proto = await within(served(user, password, literalPlus))
        assert (await within(proto.noop())).tagged.status == "OK"


@pytest_twisted.ensureDeferred
async def test_append_store_copy_move_expunge_report_by_uid(served):
    proto = await served()
    await commands.mailboxCommand(proto, "CREATE", "Archive")
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    _, first = await within(commands.append(proto, "INBOX", MESSAGE, ["$Work"], when))
    _, second = await within(commands.append(proto, "INBOX", MESSAGE))
    await proto.select("INBOX")
    stored = await within(commands.uidStore(proto, [first, second], "+", ["\\Flagged"]))
    assert {uid: set(flags) - {"\\Recent"} for uid, flags in stored.items()} == {
        first: {"\\Flagged", "$Work"}, second: {"\\Flagged"}}
    copied = await within(commands.uidCopy(proto, [first], "Archive"))
    archive = served.backend.users["alice"].mailboxes["Archive"]
    assert copied.uidValidity == archive.uidValidity and copied.pairs == ((first, 1),)
    moved = await within(commands.uidCopy(proto, [second], "Archive", move=True))
    assert moved.pairs == ((second, 2),)  # from the untagged OK before the EXPUNGE
    await commands.uidStore(proto, [first], "+", ["\\Deleted"])
    assert await within(commands.expunge(proto, [first])) == 1
    assert await within(commands.uidSearch(proto, [b"ALL"])) == []
    names = [item.name for item in await within(commands.listMailboxes(proto))]
    assert names == ["INBOX", "Archive"]
    assert await within(commands.hierarchyDelimiter(proto)) == "/"


@pytest_twisted.ensureDeferred
async def test_body_sections_and_partials_by_uid(served):
    proto = await served()
    _, uid = await commands.append(proto, "INBOX", MESSAGE)
    await proto.select("INBOX")
    item = commands.bodyPeek(Section(text="HEADER.FIELDS", fields=("SUBJECT",)))
    assert item == b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"
    found = await within(commands.uidFetchItems(proto, [uid], b"(UID " + item + b")"))
    assert commands.bodyItem(found[uid]) == b"Subject: helpers\r\n\r\n"
    part = commands.bodyPeek(Section(), (6, 13))
    found = await within(commands.uidFetchItems(proto, [uid], b"(UID " + part + b")"))
    assert commands.bodyItem(found[uid]) == MESSAGE[6:19]


def test_uid_sets_and_internal_dates():
    assert commands.uidSet([7, 1, 2, 3, 3]) == b"1:3,7"
    assert commands.expandSet("1:3,7") == [1, 2, 3, 7]
    when = commands.parseInternalDate(b" 6-May-2024 07:08:09 -0700")
    assert when == datetime(2024, 5, 6, 14, 8, 9, tzinfo=timezone.utc)
    assert dateTime(when) == b'"06-May-2024 07:08:09 -0700"'
    assert commands.parseInternalDate("not a date") is None
