"""
dovecot-uidlist.lock, by Dovecot's rules (lib/file-dotlock.c): a lock whose process is
gone is taken over at once, one that nobody changes for 120 s is taken over, a live one
is waited for, and no wait ever holds up the reactor (other connections are served).
"""

import os
import socket
import subprocess
import sys
import time

import pytest
import pytest_twisted

from idlemail.backends.maildir import dotlock
from idlemail.backends.maildir.backend import createMaildir
from idlemail.backends.maildir.dotlock import STALE_TIMEOUT, DotLock
from idlemail.errors import IMAPError
from tests.backends.maildir.conftest import message, openInbox
from tests.server.clients import RawClient, appendCommand, inThread

HOST = socket.gethostname()


def deadPid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    return child.pid


def leaveLock(folder, content: str, age: float):
    lock = folder / "dovecot-uidlist.lock"
    lock.write_text(content)
    then = time.time() - age
    os.utime(lock, (then, then))
    return lock


# --- the rules ---------------------------------------------------------------------------
def test_a_lock_naming_a_dead_process_of_this_host_is_taken_over(tmp_path):
    leaveLock(tmp_path, f"{deadPid()}:{HOST}", age=5)
    lock = DotLock(tmp_path / "dovecot-uidlist")
    assert lock.attempt()
    assert (tmp_path / "dovecot-uidlist.lock").read_text() == f"{os.getpid()}:{HOST}"
    lock.release()
    assert not (tmp_path / "dovecot-uidlist.lock").exists()


def test_a_lock_younger_than_two_seconds_is_not_judged_by_its_pid(tmp_path):
    # It may be a writer that has not written its pid yet (Dovecot: STALE_PID_CHECK_SECS).
    leaveLock(tmp_path, f"{deadPid()}:{HOST}", age=0)
    assert not DotLock(tmp_path / "dovecot-uidlist").attempt()


@pytest.mark.parametrize("content", [f"{os.getppid()}:{HOST}", "1:another-host", ""])
def test_a_lock_of_a_live_or_unknown_holder_is_waited_for(tmp_path, content):
    leaveLock(tmp_path, content, age=60)
    lock = DotLock(tmp_path / "dovecot-uidlist")
    assert not lock.attempt()
    assert 0 < lock.nextWait() < 1
    assert (tmp_path / "dovecot-uidlist.lock").read_text() == content


def test_a_lock_of_this_process_is_stale_only_if_no_thread_of_ours_holds_it(tmp_path):
    ours = DotLock(tmp_path / "dovecot-uidlist")
    assert ours.attempt()
    old = time.time() - 60
    os.utime(ours.lockPath, (old, old))
    assert not DotLock(tmp_path / "dovecot-uidlist").attempt()  # held: live
    ours.release()
    # Left by an earlier server that had the same pid (a container's pid 1): stale.
    leaveLock(tmp_path, f"{os.getpid()}:{HOST}", age=60)
    assert DotLock(tmp_path / "dovecot-uidlist").attempt()


def test_a_lock_without_a_pid_is_stale_once_nothing_changed_for_the_stale_timeout(tmp_path):
    lockPath = leaveLock(tmp_path, "", age=0)
    (tmp_path / "dovecot-uidlist").write_text("3 V1 N1 Gx\n")
    now = [time.time()]
    lock = DotLock(tmp_path / "dovecot-uidlist", clock=lambda: now[0])
    assert not lock.attempt()
    now[0] += STALE_TIMEOUT - 20
    lockPath.write_text("still writing")  # its holder is at work: the clock starts again
    assert not lock.attempt()
    now[0] += STALE_TIMEOUT - 20
    assert not lock.attempt()
    now[0] += 40  # nothing changed for more than STALE_TIMEOUT
    assert lock.attempt()
    lock.release()


# --- over the wire -------------------------------------------------------------------------
@pytest.mark.parametrize("age", [5, 600])
@pytest_twisted.ensureDeferred
async def test_a_lock_left_by_a_dead_process_does_not_stall_select_or_append(
        makeBackend, serve, age):
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    (home / "cur" / "1700000000.M1P1.mda:2,S").write_bytes(message(1))
    leaveLock(home, f"{deadPid()}:{HOST}", age=age)  # a writer killed mid-way
    port = serve(backend)

    def go():
        c, other = RawClient("127.0.0.1", port), RawClient("127.0.0.1", port)
        c.login()
        other.login()
        t = time.monotonic()
        selected = c.command(b"s", b"SELECT INBOX")
        appended = c.command(b"a", appendCommand(b"INBOX", message(2)))
        took = time.monotonic() - t
        return selected, appended, took, other.command(b"n", b"NOOP")
    selected, appended, took, noop = await inThread(go)
    assert selected[-1].startswith(b"s OK") and b"* 1 EXISTS" in selected
    assert appended[-1].startswith(b"a OK [APPENDUID")
    assert took < 5, f"SELECT and APPEND took {took:.1f} s behind a dead process's lock"
    assert noop[-1].startswith(b"n OK")
    assert not (home / "dovecot-uidlist.lock").exists()


HOLD_LOCK = """
import os, socket, sys, time
path = sys.argv[1]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, f"{os.getpid()}:{socket.gethostname()}".encode())
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
os.unlink(path)
"""


@pytest_twisted.ensureDeferred
async def test_a_live_lock_is_waited_for_while_other_connections_are_served(
        makeBackend, serve):
    backend = makeBackend()
    home = createMaildir(backend.root, "alice")
    port = serve(backend)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK,
                               str(home / "dovecot-uidlist.lock"), "1.5"],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"locked\n"

        def go():
            c, other = RawClient("127.0.0.1", port), RawClient("127.0.0.1", port)
            c.login()
            other.login()
            t = time.monotonic()
            c.send(b"a " + appendCommand(b"INBOX", message(1)) + b"\r\n")
            time.sleep(0.2)  # the APPEND is waiting for the lock now
            t1 = time.monotonic()
            noop = other.command(b"n", b"NOOP")
            noopTook = time.monotonic() - t1
            appended = c.readUntilTagged(b"a")
            return noop, noopTook, appended, time.monotonic() - t, holder.poll()
        noop, noopTook, appended, took, holderDone = await inThread(go)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert noop[-1].startswith(b"n OK")
    assert noopTook < 0.5, f"a NOOP waited {noopTook:.2f} s while an APPEND waited for a lock"
    assert appended[-1].startswith(b"a OK [APPENDUID")
    assert holderDone == 0 and took > 1.0  # it waited for the holder to let go


@pytest_twisted.ensureDeferred
async def test_an_append_that_never_gets_the_lock_is_refused_and_leaves_nothing(
        makeBackend, monkeypatch):
    monkeypatch.setattr(dotlock, "TIMEOUT", 0.3)  # Dovecot's 122 s, shortened
    backend = makeBackend()
    inbox = await openInbox(backend)
    kept = await inbox.append(message(1), [], None)
    home = backend.root / "alice" / "Maildir"
    before = sorted(os.listdir(home / "cur") + os.listdir(home / "new"))
    leaveLock(home, f"{os.getppid()}:{HOST}", age=60)  # a live holder that never lets go
    with pytest.raises(IMAPError) as refused:
        await inbox.append(message(2), [], None)
    assert refused.value.code == "INUSE"
    assert sorted(os.listdir(home / "cur") + os.listdir(home / "new")) == before
    assert inbox.tracker.uids == [kept]
