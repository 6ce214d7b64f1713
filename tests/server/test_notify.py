"""
NOTIFY (RFC 5465) over real TCP on both backends: STATUS pushes for mailboxes not selected,
the selected mailbox's events without IDLE (SELECTED) or with expunges held for a command
(SELECTED-DELAYED), MessageNew's fetch attributes, the STATUS indicator, NOTIFY NONE, the
LIST responses of MailboxName and SubscriptionChange, the rules of an event list, the
limit, and when a push may be sent: never inside a command's responses, right after it.
"""

import re
import socket

import pytest_twisted
from twisted.internet import defer

from idlemail.backends.memory import MemoryMailbox
from idlemail.testing.conformance import waitFor
from tests.server.clients import RawClient, appendCommand, inThread, ok, run

MESSAGE = b"From: a@example.org\r\nSubject: notify\r\n\r\nbody\r\n"
WATCH_LISTS = b"NOTIFY SET (SUBTREE Lists (MessageNew MessageExpunge))"


def client(server, *lines) -> RawClient:
    c = RawClient(server.host, server.port)
    c.login()
    for line in lines:
        ok(c.command(b"p", line), b"p")
    return c


def append(server, mailbox: bytes, flags: bytes = b"") -> bytes:
    """APPEND from another connection; the APPENDUID's UID."""
    other = client(server)
    lines = other.command(b"x", appendCommand(mailbox, MESSAGE, flags))
    other.close()
    return re.search(rb"APPENDUID \d+ (\d+)", lines[-1]).group(1)


def silent(c: RawClient, wait: float = 0.3) -> bytes:
    """What arrives within C{wait} seconds without asking (b"" if nothing)."""
    c.sock.settimeout(wait)
    try:
        return c.buffer + c.sock.recv(65536)
    except socket.timeout:
        return c.buffer
    finally:
        c.sock.settimeout(10)


def status(line: bytes) -> dict:
    m = re.fullmatch(rb'\* STATUS "([^"]+)" \((.*)\)', line)
    assert m, line
    words = m.group(2).split()
    return {"name": m.group(1), **{k.decode(): int(v) for k, v in zip(words[::2], words[1::2])}}


def prepare(server, *names: bytes) -> None:
    c = client(server)
    for name in names:
        ok(c.command(b"c", b"CREATE " + name), b"c")
    c.close()


@pytest_twisted.ensureDeferred
async def test_notify_is_advertised(anyServer):
    def go():
        return RawClient(anyServer.host, anyServer.port).greeting
    assert b" NOTIFY" in await inThread(go)


@pytest_twisted.ensureDeferred
async def test_a_change_of_a_mailbox_not_selected_is_a_status_push_with_no_command(anyServer):
    await inThread(prepare, anyServer, b"Lists", b"Lists/python", b"Other")

    def go():
        c = client(anyServer, b"SELECT INBOX", WATCH_LISTS)
        append(anyServer, b"Lists/python")
        pushed = c.readline()  # nothing was asked: the push comes by itself
        append(anyServer, b"Other")  # not watched
        quiet = silent(c)
        other = client(anyServer, b"SELECT Lists/python")
        other.command(b"x", b"STORE 1 +FLAGS (\\Deleted)")
        other.command(b"x", b"EXPUNGE")
        return pushed, quiet, c.readline()
    pushed, quiet, expunged = await inThread(go)
    told = status(pushed)
    assert (told["name"], told["MESSAGES"], told["UIDNEXT"], told["UNSEEN"]) == (
        b"Lists/python", 1, 2, 1)
    assert told["UIDVALIDITY"] > 0
    assert quiet == b""
    assert status(expunged)["MESSAGES"] == 0


@pytest_twisted.ensureDeferred
async def test_the_selected_mailbox_is_told_without_idle_and_new_messages_are_fetched(
        anyServer):
    def go():
        c = client(anyServer, b"SELECT INBOX",
                   b"NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange))")
        uid = append(anyServer, b"INBOX", b"\\Flagged")
        told = [c.readline() for _ in range(3)]
        other = client(anyServer, b"SELECT INBOX")
        other.command(b"x", b"STORE 1 +FLAGS (\\Seen)")
        flagged = c.readline()
        other.command(b"x", b"STORE 1 +FLAGS (\\Deleted)")
        c.readline()
        other.command(b"x", b"EXPUNGE")
        return uid, told, flagged, c.readline()
    uid, told, flagged, expunged = await inThread(go)
    assert told[:2] == [b"* 1 EXISTS", b"* 1 RECENT"]
    # RFC 5465 5.2: MessageNew's fetch attributes, right after the EXISTS.
    assert told[2] == b"* 1 FETCH (UID " + uid + b" FLAGS (\\Flagged \\Recent))"
    assert flagged.startswith(b"* 1 FETCH (FLAGS (\\Flagged \\Recent \\Seen) UID 1")
    assert expunged == b"* 1 EXPUNGE"  # SELECTED: at once, no command needed


@pytest_twisted.ensureDeferred
async def test_selected_delayed_keeps_expunges_for_a_command_that_allows_them(anyServer):
    for _ in range(2):
        anyServer.deliver(MESSAGE)

    def go():
        c = client(anyServer, b"SELECT INBOX",
                   b"NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))")
        other = client(anyServer, b"SELECT INBOX")
        other.command(b"x", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        other.command(b"x", b"EXPUNGE")
        quiet = silent(c)
        fetched = c.command(b"f", b"FETCH 2 (UID)")  # no EXPUNGE during FETCH
        noop = c.command(b"n", b"NOOP")
        return quiet, fetched, noop
    quiet, fetched, noop = await inThread(go)
    assert quiet == b""
    assert ok(fetched, b"f") == [b"* 2 FETCH (UID 2)"]
    assert ok(noop, b"n") == [b"* 1 EXPUNGE"]


@pytest_twisted.ensureDeferred
async def test_without_a_selected_filter_the_selected_mailbox_says_nothing(anyServer):
    await inThread(prepare, anyServer, b"Lists")

    def go():
        c = client(anyServer, b"SELECT INBOX", WATCH_LISTS)
        append(anyServer, b"INBOX")
        return c.command(b"n", b"NOOP")
    # RFC 5465 3.1: as if SELECTED NONE: no message events for the selected mailbox.
    assert ok(await inThread(go), b"n") == []


@pytest_twisted.ensureDeferred
async def test_status_indicator_says_each_mailbox_before_the_ok(anyServer):
    await inThread(prepare, anyServer, b"Lists", b"Lists/python", b"Trash")
    await inThread(append, anyServer, b"Lists/python")

    def script(c):
        c.command(b"s", b"SELECT Lists")
        return c.command(b"a", b"NOTIFY SET STATUS (MAILBOXES Trash NONE) "
                               b"(PERSONAL (MessageNew MessageExpunge FlagChange))")
    lines = ok(await run(anyServer, script))
    told = {s["name"]: s for s in map(status, lines)}
    # Not Lists (selected), not Trash (the first filter that names it says NONE).
    assert sorted(told) == [b"INBOX", b"Lists/python"]
    assert told[b"Lists/python"]["MESSAGES"] == 1
    assert all("HIGHESTMODSEQ" in s and "UIDVALIDITY" in s for s in told.values())


@pytest_twisted.ensureDeferred
async def test_notify_none_stops_the_pushes(anyServer):
    await inThread(prepare, anyServer, b"Lists")

    def go():
        c = client(anyServer, WATCH_LISTS, b"NOTIFY NONE")
        append(anyServer, b"Lists")
        return silent(c)
    assert await inThread(go) == b""


@pytest_twisted.ensureDeferred
async def test_mailbox_name_and_subscription_changes_are_list_responses(anyServer):
    def go():
        c = client(anyServer, b"NOTIFY SET (PERSONAL (MailboxName SubscriptionChange "
                              b"MessageNew MessageExpunge))")
        other = client(anyServer)
        other.command(b"x", b"CREATE Projects")
        created = c.readline()
        other.command(b"x", b"SUBSCRIBE Projects")
        subscribed = c.readline()
        other.command(b"x", b"RENAME Projects Done")
        renamed = c.readline()
        append(anyServer, b"Done")  # the renamed mailbox is watched under its new name
        pushed = c.readline()
        other.command(b"x", b"DELETE Done")
        return created, subscribed, renamed, pushed, c.readline()
    created, subscribed, renamed, pushed, deleted = await inThread(go)
    assert created == b'* LIST () "/" "Projects"'
    assert subscribed == b'* LIST (\\Subscribed) "/" "Projects"'
    assert renamed == b'* LIST () "/" "Done" ("OLDNAME" ("Projects"))'
    assert status(pushed)["name"] == b"Done"
    assert deleted == b'* LIST (\\NonExistent) "/" "Done"'


@pytest_twisted.ensureDeferred
async def test_event_lists_are_checked(anyServer):
    lines = [b"NOTIFY SET (SELECTED (MessageNew))",  # BAD: MessageExpunge goes with it
             b"NOTIFY SET (PERSONAL (FlagChange))",  # BAD: needs MessageNew, MessageExpunge
             b"NOTIFY SET (INBOXES (MessageNew (UID) MessageExpunge))",  # BAD: fetch-att
             b"NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED NONE)",
             b"NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))",
             b"NOTIFY SET (SELECTED (MessageNew MessageExpunge XFuture))",
             b"NOTIFY MAYBE"]

    def script(c):
        return [c.command(b"a", line)[-1] for line in lines]
    answers = await run(anyServer, script)
    assert [a.split(b" ")[1] for a in answers] == [b"BAD"] * 4 + [b"NO"] * 2 + [b"BAD"]
    # RFC 5465 3.1: the events it does not support, named.
    assert answers[4].startswith(b"a NO [BADEVENT (AnnotationChange)]")
    assert answers[5].startswith(b"a NO [BADEVENT (XFuture)]")


@pytest_twisted.ensureDeferred
async def test_more_mailboxes_than_the_limit_are_refused(serve):
    server = serve(notifyMaxMailboxes=2)
    await inThread(prepare, server, b"A", b"B")

    def script(c):
        refused = c.command(b"a", b"NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
        allowed = c.command(b"b", b"NOTIFY SET (MAILBOXES (A B) (MessageNew MessageExpunge))")
        return refused, allowed
    refused, allowed = await run(server, script)
    assert refused[-1].startswith(b"a NO [LIMIT]")
    assert allowed[-1].startswith(b"b OK")


@pytest_twisted.ensureDeferred
async def test_nothing_is_pushed_inside_a_command_everything_right_after(server, monkeypatch):
    """A FETCH held up in the backend while another mailbox changes: the STATUS waits for
    the FETCH's responses, then comes before its tagged OK."""
    await inThread(prepare, server, b"Lists")
    server.deliver(MESSAGE)
    gate, asked = defer.Deferred(), []
    real = MemoryMailbox.messages

    def held(self, uids):
        asked.append(True)
        return gate.addCallback(lambda _: real(self, uids).result)
    monkeypatch.setattr(MemoryMailbox, "messages", held)

    def begin():
        c = client(server, b"SELECT INBOX", WATCH_LISTS)
        c.send(b"f FETCH 1 (UID)\r\n")
        return c
    c = await inThread(begin)
    await waitFor(lambda: asked)
    server.backend.deliver("alice", MESSAGE, "Lists")
    quiet = await inThread(silent, c)
    gate.callback(None)
    lines = await inThread(c.readUntilTagged, b"f")
    c.close()
    assert quiet == b""
    assert lines[0] == b"* 1 FETCH (UID 1)"
    assert status(lines[1])["name"] == b"Lists" and lines[2].startswith(b"f OK")


@pytest_twisted.ensureDeferred
async def test_an_idler_with_notify_gets_status_pushes_while_idling(anyServer):
    await inThread(prepare, anyServer, b"Lists")

    def go():
        c = client(anyServer, b"SELECT INBOX", WATCH_LISTS)
        c.send(b"I IDLE\r\n")
        assert c.readline() == b"+ idling"
        append(anyServer, b"Lists")
        pushed = c.readline()
        c.send(b"DONE\r\n")
        return pushed, c.readUntilTagged(b"I")
    pushed, done = await inThread(go)
    assert status(pushed)["name"] == b"Lists"
    assert done[-1].startswith(b"I OK")


@pytest_twisted.ensureDeferred
async def test_sessions_watching_one_mailbox_share_one_watch(server):
    await inThread(prepare, server, b"Lists")

    def go():
        return [client(server, WATCH_LISTS) for _ in range(3)]
    clients = await inThread(go)
    assert len(server.factory.notifyWatches.watches) == 1
    [watch] = server.factory.notifyWatches.watches.values()
    assert len(watch.sessions) == 3 and len(watch.tracker.watchers) == 1
    for c in clients:
        c.close()
    await waitFor(lambda: not server.factory.notifyWatches.watches)
    assert watch.tracker.watchers == []
