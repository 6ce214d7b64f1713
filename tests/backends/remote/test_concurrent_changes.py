"""
Changes asked at once through the proxy, in front of a real Dovecot and of idlemail's own
server: each new message is published to local sessions exactly once, in UID order, and
before the APPEND, COPY or MOVE that made it is answered; none goes missing from their
view when the upstream answers them in another order than it numbered them, when its
watcher hears of them in pieces (a FETCH answered before the server caught up, then a
SEARCH), when other clients add mail at the same time, or when the watcher lists the
mailbox again while the proxy appends; an expunge through the proxy is told once.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from idlemail.backends.remote.backend import RemoteBackend
from idlemail.testing import DEFAULT_USERS, memoryBackend
from idlemail.testing.conformance import message, waitFor
from tests.backends.remote.conftest import Upstream, remoteSettings, startDovecot, stopDovecot
from tests.backends.remote.test_conformance import emptyMailboxes
from tests.server.clients import RawClient, appendCommand, inThread

ROUNDS = 8  # the race shows within two or three rounds of ten over Dovecot
AT_ONCE = 10


@pytest.fixture(scope="module")
def sharedDovecot():
    server = startDovecot()  # one for the module: each test empties the mailboxes
    yield server
    stopDovecot(server)


@pytest_twisted.async_yield_fixture(params=["idlemail", "dovecot"])
async def upstreamAt(request):
    """(host, port) of an upstream with alice's mailboxes empty."""
    if request.param == "dovecot":
        dovecot = request.getfixturevalue("sharedDovecot")
        emptyMailboxes(dovecot)
        yield dovecot.host, dovecot.port
        return
    served = Upstream(memoryBackend(dict(DEFAULT_USERS)))
    served.start()
    yield served.host, served.port
    await served.stop()


@pytest_twisted.async_yield_fixture
async def account(upstreamAt):
    backend = RemoteBackend(remoteSettings(upstreamAt[1]), reactor)
    yield await backend.login("alice", "alicepw")
    await backend.close()


@pytest_twisted.async_yield_fixture
async def inbox(account):
    mailbox = await account.open("INBOX", False)
    yield mailbox
    mailbox.close()


def upstreamUids(address, mailbox: bytes = b"INBOX") -> list[int]:
    """What the upstream itself lists, asked by a client of its own."""
    c = RawClient(*address)
    try:
        c.login()
        c.command(b"e", b"EXAMINE " + mailbox)
        found = []
        for line in c.command(b"u", b"UID SEARCH ALL"):
            if line.startswith(b"* SEARCH"):
                found = [int(n) for n in line.split()[2:]]
        return sorted(found)
    finally:
        c.close()


def appendUpstream(address, count: int) -> None:
    """Another client of the upstream appends C{count} messages, one after the other."""
    c = RawClient(*address)
    try:
        c.login()
        for n in range(count):
            assert c.command(b"a", appendCommand(b"INBOX", message(1000 + n)))[-1] \
                .startswith(b"a OK")
    finally:
        c.close()


class Answers:
    """Each answer's UIDs, and whether the tracker had them published when it came."""

    def __init__(self, tracker):
        self.tracker, self.uids, self.publishedThen = tracker, [], []

    def heard(self, uids):
        self.uids.extend(uids)
        self.publishedThen.extend(uid in self.tracker.uids for uid in uids)

    def appendTogether(self, mailbox, count: int = AT_ONCE) -> defer.Deferred:
        return defer.gatherResults([
            mailbox.append(message(n), [], None).addCallback(lambda uid: self.heard([uid]))
            for n in range(count)])

    def assertPublishedWhenAnswered(self):
        late = [uid for uid, told in zip(self.uids, self.publishedThen) if not told]
        assert late == [], f"answered before local sessions were told of them: {late}"


class Told:
    """A local session of the mailbox, and what it was told, in order."""

    def __init__(self, tracker):
        self.session = tracker.openSession()
        self.session.wake = lambda: self.lines.extend(self.session.drain())
        self.lines = []

    def count(self, kind: str) -> int:
        return sum(1 for line in self.lines if line[0] == kind)


def assertInView(tracker, uids) -> None:
    missing = sorted(set(uids) - set(tracker.uids))
    assert missing == [], f"never in (or gone from) the local view: {missing}"


@pytest_twisted.ensureDeferred
async def test_appends_asked_together_are_each_published_before_the_answer_and_stay(
        inbox, upstreamAt):
    for _ in range(ROUNDS):
        answers = Answers(inbox.tracker)
        await answers.appendTogether(inbox)
        answers.assertPublishedWhenAnswered()
        assertInView(inbox.tracker, answers.uids)
    assert inbox.tracker.uids == await inThread(upstreamUids, upstreamAt)


@pytest_twisted.ensureDeferred
async def test_appends_while_other_clients_add_mail_lose_nothing(inbox, upstreamAt):
    answers = Answers(inbox.tracker)
    others = inThread(appendUpstream, upstreamAt, ROUNDS * 3)
    for _ in range(ROUNDS):
        await answers.appendTogether(inbox)
    await others
    answers.assertPublishedWhenAnswered()
    assertInView(inbox.tracker, answers.uids)
    everything = await inThread(upstreamUids, upstreamAt)
    await waitFor(lambda: inbox.tracker.uids == everything)  # the others', by the watcher


@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
@pytest_twisted.ensureDeferred
async def test_copies_and_moves_asked_together_are_each_published_before_the_answer(
        account, inbox, upstreamAt, move):
    await account.create("Archive")
    archive = await account.open("Archive", False)
    try:
        sources = [await inbox.append(message(n), ["\\Seen"], None)
                   for n in range(ROUNDS * AT_ONCE)]
        answers = Answers(archive.tracker)
        for start in range(0, len(sources), AT_ONCE):
            await defer.gatherResults([
                inbox.copy([uid], "Archive", move=move).addCallback(
                    lambda result: answers.heard([dest for _, dest in result[1]]))
                for uid in sources[start:start + AT_ONCE]])
        answers.assertPublishedWhenAnswered()
        assertInView(archive.tracker, answers.uids)
        assert len(answers.uids) == len(sources)
        assert archive.tracker.uids == await inThread(upstreamUids, upstreamAt, b"Archive")
        assert inbox.tracker.uids == ([] if move else sources)
    finally:
        archive.close()


@pytest_twisted.ensureDeferred
async def test_expunges_through_the_proxy_while_others_add_mail_are_told_once(
        inbox, upstreamAt):
    # The watcher's answers may still name a message the proxy has just expunged (its
    # flags, \Deleted, before the EXPUNGE): neither a new message nor a changed mailbox.
    told = Told(inbox.tracker)
    expunged = []
    for _ in range(ROUNDS * 3):
        uids = await defer.gatherResults([inbox.append(message(n), [], None)
                                          for n in range(2)])
        await inbox.store(uids, ["\\Deleted"], "+")
        others = inThread(appendUpstream, upstreamAt, 1)
        expunged += await inbox.expunge(uids)
        await others
    assert inbox.tracker.resetReason is None
    everything = await inThread(upstreamUids, upstreamAt)
    await waitFor(lambda: inbox.tracker.uids == everything)
    assert told.count("EXPUNGE") == len(expunged) == ROUNDS * 3 * 2


@pytest_twisted.ensureDeferred
async def test_appends_while_the_watcher_lists_the_mailbox_again_are_kept(
        inbox, upstreamAt):
    # The listing answers the SELECT's view: a message appended after it is not gone.
    told = Told(inbox.tracker)
    watch = inbox._watch
    answers = Answers(inbox.tracker)
    for _ in range(ROUNDS):
        connections = watch.connections
        watch.reconnect()
        for _ in range(500):  # one after the other until the watcher is back
            await answers.appendTogether(inbox, 1)
            if watch.connections > connections:
                break
    assert told.count("EXPUNGE") == 0 and inbox.tracker.resetReason is None
    answers.assertPublishedWhenAnswered()
    assertInView(inbox.tracker, answers.uids)
    assert inbox.tracker.uids == await inThread(upstreamUids, upstreamAt)


@pytest_twisted.ensureDeferred
async def test_messages_appended_together_can_at_once_be_flagged_read_and_copied(
        account, inbox):
    # The APPENDs ran on two upstream connections; the next command runs on one of them,
    # whose view of the mailbox the server brought up to date before the other's message.
    await account.create("Archive")
    missed = []
    for _ in range(ROUNDS):
        uids = sorted(await defer.gatherResults([inbox.append(message(n), [], None)
                                                 for n in range(2)]))
        flagged = await inbox.store(uids, ["\\Flagged"], "+")
        missed += [uid for uid in uids if flagged.get(uid) != {"\\Flagged"}]
        missed += sorted(set(uids) - {info.uid for info in await inbox.messages(uids)})
        _, pairs = await inbox.copy(uids, "Archive")
        missed += sorted(set(uids) - {src for src, _ in pairs})
    assert missed == []
