"""
IBodyStreams on Maildir: a message read in pieces, in the disk threads, with bare LFs
made CRLF on the fly (a CR at the end of one piece and the LF starting the next are one
line end), exactly C{size} octets, and the file closed at the end.
"""

import os

import pytest
import pytest_twisted

from idlemail.backends.maildir import body as B
from idlemail.backends.maildir.backend import createMaildir
from idlemail.interfaces import IBodyStreams
from tests.backends.maildir.conftest import openInbox

TRICKY = (b"Subject: pieces\n\nlf\ncrlf\r\nlone cr\rthen lf\n\r\n\n"
          + b"\r" * 3 + b"\n" * 3 + b"end\r")


def drop(home, name: str, data: bytes) -> None:
    (home / "cur" / name).write_bytes(data)


async def readAll(stream, n: int) -> bytes:
    pieces = []
    while piece := await stream.read(n):
        assert len(piece) <= n
        pieces.append(piece)
    await stream.close()
    return b"".join(pieces)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 65536])
@pytest_twisted.ensureDeferred
async def test_pieces_of_any_size_make_the_body_with_crlf_line_ends(makeBackend, n,
                                                                    monkeypatch):
    monkeypatch.setattr(B, "READ_SIZE", 5)  # file reads end anywhere, mid CRLF too
    backend = makeBackend()
    drop(createMaildir(backend.root, "alice"), "1700000000.M1P1.mda:2,", TRICKY)
    inbox = await openInbox(backend)
    assert IBodyStreams.providedBy(inbox)
    [uid] = inbox.tracker.uids
    stream = await inbox.openBody(uid)
    whole = await inbox.body(uid)
    assert whole == TRICKY.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert stream.size == len(whole)
    assert await readAll(stream, n) == whole


@pytest_twisted.ensureDeferred
async def test_a_large_message_comes_in_pieces_and_its_file_is_closed(makeBackend):
    backend = makeBackend()
    inbox = await openInbox(backend)
    big = b"Subject: big\r\n\r\n" + b"0123456789abcdef" * (1 << 18)  # 4 MB
    uid = await inbox.append(big, [], None)
    fds = len(os.listdir("/proc/self/fd"))
    stream = await inbox.openBody(uid)
    assert stream.size == len(big)
    assert await readAll(stream, 1 << 16) == big
    assert len(os.listdir("/proc/self/fd")) == fds


@pytest_twisted.ensureDeferred
async def test_a_size_in_the_name_that_cannot_be_right_is_counted(makeBackend,
                                                                  loggedWarnings):
    backend = makeBackend()
    data = b"Subject: x\r\n\r\nbody\r\n"
    drop(createMaildir(backend.root, "alice"), "1700000000.M1P1.mda,W=3:2,", data)
    inbox = await openInbox(backend)
    [uid] = inbox.tracker.uids
    stream = await inbox.openBody(uid)
    assert stream.size == len(data)
    assert await readAll(stream, 7) == data
    assert not loggedWarnings


@pytest_twisted.ensureDeferred
async def test_a_size_in_the_name_that_lies_still_gives_exactly_size_octets(
        makeBackend, loggedWarnings):
    # Plausible lies (between the file's octets and twice that) are only found out
    # while sending: the promised size is kept, so the connection's framing holds.
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    crlf = b"Subject: long\r\n\r\nbody\r\n"
    drop(home, f"1700000000.M1P1.mda,W={len(crlf) + 10}:2,", crlf)
    lf = b"Subject: lf\n\nbody\n"  # 4 octets longer as CRLF
    drop(home, f"1700000000.M2P1.mda,W={len(lf) + 1}:2,", lf)
    inbox = await openInbox(backend)
    longer, shorter = inbox.tracker.uids
    assert await readAll(await inbox.openBody(longer), 7) == crlf + b" " * 10
    cut = await readAll(await inbox.openBody(shorter), 7)
    assert cut == b"Subject: lf\r\n\r\nbody\r"[:len(lf) + 1]
    assert sum("than its size" in w for w in loggedWarnings) == 2


@pytest_twisted.ensureDeferred
async def test_an_expunged_message_opens_as_none(makeBackend):
    backend = makeBackend()
    inbox = await openInbox(backend)
    uid = await inbox.append(b"Subject: x\r\n\r\ny\r\n", ["\\Deleted"], None)
    await inbox.expunge()
    assert await inbox.openBody(uid) is None


@pytest_twisted.ensureDeferred
async def test_a_small_message_is_read_at_open_and_its_file_closed_at_once(makeBackend):
    backend = makeBackend()
    inbox = await openInbox(backend)
    uid = await inbox.append(b"Subject: small\r\n\r\nhello\r\n", [], None)
    pool = inbox._folder.pool
    trips = []
    run = pool.run
    pool.run = lambda f, *args: (trips.append(f), run(f, *args))[1]
    fds = len(os.listdir("/proc/self/fd"))
    try:
        stream = await inbox.openBody(uid)
        assert len(trips) == 1  # the open, which read it all
        assert len(os.listdir("/proc/self/fd")) == fds  # and closed the file
        assert await readAll(stream, 1 << 16) == b"Subject: small\r\n\r\nhello\r\n"
        assert len(trips) == 1  # no other trip to the disk threads
    finally:
        del pool.run
