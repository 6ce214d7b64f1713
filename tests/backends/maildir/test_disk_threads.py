"""
No disk wait on the reactor thread: a slow disk under one connection's APPEND does not
delay another connection's answer, the waiting happens in the backend's own disk
threads, and their number is what the config says.
"""

import os
import threading
import time

import pytest
import pytest_twisted

from idlemail.backends.registry import buildBackend
from idlemail.errors import ConfigError
from tests.backends.maildir.conftest import message
from tests.server.clients import RawClient, appendCommand, inThread

SLOW = 0.5  # seconds each fsync takes on the "slow disk"


@pytest.fixture
def slowDisk(monkeypatch):
    """fsync and fdatasync that take SLOW seconds (a disk under load); records the
    threads they ran in, and is set once the first one starts."""
    started = threading.Event()
    threads = []
    realFsync, realFdatasync = os.fsync, os.fdatasync

    def slow(real):
        def call(fd):
            threads.append(threading.current_thread().name)
            started.set()
            time.sleep(SLOW)
            return real(fd)
        return call
    monkeypatch.setattr(os, "fsync", slow(realFsync))
    monkeypatch.setattr(os, "fdatasync", slow(realFdatasync))
    return started, threads


@pytest_twisted.ensureDeferred
async def test_a_slow_disk_under_an_append_does_not_delay_another_connection(
        makeBackend, serve, slowDisk):
    port = serve(makeBackend())
    started, threads = slowDisk

    def go():
        appender, other = RawClient("127.0.0.1", port), RawClient("127.0.0.1", port)
        appender.login()
        other.login()
        appender.send(b"a " + appendCommand(b"INBOX", message(1)) + b"\r\n")
        assert started.wait(10), "the APPEND never reached the disk"
        t = time.monotonic()
        noop = other.command(b"n", b"NOOP")
        waited = time.monotonic() - t
        appended = appender.readUntilTagged(b"a")
        return noop, waited, appended
    noop, waited, appended = await inThread(go)
    assert noop[-1].startswith(b"n OK")
    assert waited < SLOW / 2, f"NOOP waited {waited:.2f} s for another connection's fsync"
    assert appended[-1].startswith(b"a OK [APPENDUID")
    assert threads and all(name.startswith("PoolThread-idlemail-maildir") for name in threads)


def test_the_disk_threads_are_as_many_as_configured(tmp_path):
    from twisted.internet import reactor
    section = {"root": str(tmp_path / "mail"), "passwd_file": str(tmp_path / "passwd"),
               "io_threads": 2}
    backend = buildBackend("maildir", section, "idlemail.toml", reactor)
    assert backend.pool.size == 2
    with pytest.raises(ConfigError) as e:
        buildBackend("maildir", dict(section, io_threads=0), "idlemail.toml", reactor)
    assert "server.maildir.io_threads" in str(e.value)
