"""
FETCH of FLAGS, UID, RFC822.SIZE and INTERNALDATE is answered from the folder's index:
a size comes from ,W= in the name or is counted once, a date is the file's mtime read
once; after that, no message file is opened or even stat'ed for them.
"""

import os
import re
import threading

import pytest
import pytest_twisted

from idlemail.backends.maildir.backend import createMaildir
from tests.server.clients import RawClient, inThread

LF_MESSAGE = b"Subject: bare newlines\n\nline one\nline two\n"  # 4 LFs: 4 more as CRLF
CRLF_MESSAGE = b"Subject: as Dovecot keeps it\r\n\r\nbody\r\n"


@pytest.fixture
def touched(monkeypatch):
    """(call, path) of every open/stat/lstat of a file in a cur/ or new/ directory."""
    seen = []
    guard = threading.Lock()

    def spy(name, real):
        def call(path, *args, **kwargs):
            text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
            if "/cur/" in text or "/new/" in text:
                with guard:
                    seen.append((name, text))
            return real(path, *args, **kwargs)
        return call
    for name in ("open", "stat", "lstat"):
        monkeypatch.setattr(os, name, spy(name, getattr(os, name)))
    return seen


def fill(home):
    names = {}
    for n in range(3):  # Dovecot's names carry the sizes
        base = f"1700000000.M{n}P1.host,S={len(CRLF_MESSAGE)},W={len(CRLF_MESSAGE)}"
        names[base] = home / "cur" / (base + ":2,S")
        names[base].write_bytes(CRLF_MESSAGE)
    for n in range(3, 5):  # an MDA's names do not
        base = f"1700000000.M{n}P1.host"
        names[base] = home / "cur" / (base + ":2,")
        names[base].write_bytes(LF_MESSAGE)
    for n, path in enumerate(sorted(names.values())):
        os.utime(path, (1600000000 + n * 3600, 1600000000 + n * 3600))
    return names


FETCH = b"FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)"


@pytest_twisted.ensureDeferred
async def test_fetch_of_flags_uid_size_and_date_opens_no_message_file_twice(
        makeBackend, serve, touched):
    backend = makeBackend()
    fill(createMaildir(backend.root, "alice"))
    port = serve(backend)

    def go():
        c = RawClient("127.0.0.1", port)
        c.login()
        c.command(b"s", b"SELECT INBOX")
        del touched[:]
        first = c.command(b"f", FETCH)
        firstTouched = list(touched)
        del touched[:]
        second = c.command(b"g", FETCH)
        return first, firstTouched, second, list(touched)
    first, firstTouched, second, secondTouched = await inThread(go)
    assert first[-1].startswith(b"f OK") and second[-1].startswith(b"g OK")
    assert first[:-1] == second[:-1]
    sizes = [int(re.search(rb"RFC822.SIZE (\d+)", line).group(1)) for line in first[:-1]]
    assert sizes == [len(CRLF_MESSAGE)] * 3 + [len(LF_MESSAGE) + 4] * 2
    dates = [re.search(rb'INTERNALDATE "([^"]+)"', line).group(1) for line in first[:-1]]
    assert dates[0] == b"13-Sep-2020 12:26:40 +0000" and len(set(dates)) == 5
    opened = [path for call, path in firstTouched if call == "open"]
    assert sorted(os.path.basename(p) for p in opened) == [
        "1700000000.M3P1.host:2,", "1700000000.M4P1.host:2,"]  # counted once, no W=
    assert secondTouched == [], "FETCH of metadata looked at message files again"
