"""
A folder of 20,000 messages: an APPEND costs what it costs into an empty folder (one
line appended to dovecot-uidlist, no rescan), and a STATUS of it while nobody has it open
does not hold up other connections. (How fast, compared, is the bench's business.)
"""

import threading
import time

import pytest
import pytest_twisted

from idlemail.backends.maildir import disk
from idlemail.backends.maildir.backend import createMaildir
from tests.backends.maildir.conftest import message, openInbox
from tests.server.clients import RawClient, appendCommand, inThread

COUNT = 20_000


def fillFolder(folder, count: int, uidlist: bool) -> None:
    """C{count} small messages in cur/ (every tenth unseen), as a long-used folder has;
    with a dovecot-uidlist numbering them, as Dovecot leaves one, if C{uidlist}."""
    lines = ["3 V1700000000 N%d G0123456789abcdef0123456789abcdef" % (count + 1)]
    for n in range(1, count + 1):
        base = "1600000000.M%dP1.big,S=40,W=40" % n
        flags = "" if n % 10 == 0 else "S"
        (folder / "cur" / f"{base}:2,{flags}").write_bytes(b"Subject: %08d\r\n\r\n0123456789abc\r\n" % n)
        lines.append(f"{n} :{base}")
    if uidlist:
        (folder / "dovecot-uidlist").write_text("\n".join(lines) + "\n")


@pytest.fixture
def listings(monkeypatch):
    """How many times a folder's new/ and cur/ are listed."""
    calls = []
    real = disk.listing

    def counted(*args):
        calls.append(args[0])
        return real(*args)
    monkeypatch.setattr(disk, "listing", counted)
    return calls


@pytest_twisted.ensureDeferred
async def test_an_append_into_a_folder_of_20000_appends_one_uidlist_line(makeBackend,
                                                                           listings):
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    fillFolder(home, COUNT, uidlist=True)
    inbox = await openInbox(backend)
    assert len(inbox.tracker.uids) == COUNT
    path = home / "dovecot-uidlist"
    before, inode = path.read_bytes(), path.stat().st_ino
    listings.clear()
    uid = await inbox.append(message(1), [], None)
    assert uid == COUNT + 1
    after = path.read_bytes()
    assert path.stat().st_ino == inode, "the uidlist was rewritten, not appended to"
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1
    assert after.endswith(b"%d :" % uid + after.rsplit(b":", 1)[1])
    assert listings == [], "an APPEND listed the folder"


@pytest_twisted.ensureDeferred
async def test_status_of_an_unopened_folder_of_20000_does_not_stall_other_connections(
        makeBackend, serve):
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    big = home / ".Big"
    for sub in ("cur", "new", "tmp"):
        (big / sub).mkdir(parents=True)
    fillFolder(big, COUNT, uidlist=False)  # the worst case: every file needs a UID
    port = serve(backend)
    running, answered = threading.Event(), threading.Event()

    def status():
        c = RawClient("127.0.0.1", port, timeout=60)
        c.login()
        c.send(b"s STATUS Big (MESSAGES UIDNEXT UNSEEN)\r\n")
        running.set()
        lines = c.readUntilTagged(b"s")
        answered.set()
        return lines, time.monotonic()

    def noops():
        c = RawClient("127.0.0.1", port)
        c.login()
        assert running.wait(10)
        times = []
        for n in range(1000):  # until STATUS is answered
            if answered.is_set():
                break
            assert c.command(b"n%d" % n, b"NOOP")[-1].startswith(b"n%d OK" % n)
            times.append(time.monotonic())
        return times
    statusDone, noopsDone = inThread(status), inThread(noops)
    lines, statusAnswered = await statusDone
    noopAnswers = await noopsDone
    assert lines[-1].startswith(b"s OK")
    assert b"(MESSAGES 20000 UIDNEXT 20001 UNSEEN 2000)" in lines[0], lines
    assert noopAnswers and noopAnswers[0] < statusAnswered, \
        "no NOOP of another connection was answered while STATUS ran"
    assert (big / "dovecot-uidlist").read_text().count("\n") == COUNT + 1


@pytest_twisted.ensureDeferred
async def test_appends_into_a_big_folder_nobody_has_selected_look_at_it_once(
        makeBackend, serve, listings):
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    sent = home / ".Sent"
    for sub in ("cur", "new", "tmp"):
        (sent / sub).mkdir(parents=True)
    fillFolder(sent, COUNT, uidlist=True)
    port = serve(backend)

    def go():
        c = RawClient("127.0.0.1", port)
        c.login()
        c.command(b"s", b"SELECT INBOX")  # as a client that files what it sent
        return [c.command(b"a", appendCommand(b"Sent", message(n)))[-1] for n in range(5)]
    answers = await inThread(go)
    assert [a.split(b"]")[0].rsplit(b" ", 1)[1] for a in answers] == [
        b"%d" % uid for uid in range(COUNT + 1, COUNT + 6)]
    assert [path for path in listings if path == sent] == [sent]  # opened once, not 5 times
