"""
C{[server] workers = N}: twistd as a user runs it, two worker processes on one port over
one Maildir tree. Which worker holds a connection is read from /proc (the server side of
each TCP connection and the process whose descriptor it is), not from anything the server
says.
"""

import os
import signal
import ssl
import subprocess
import sys
import time

import pytest

from idlemail.testing.certs import selfSigned
from idlemail.testing.dovecot import processTree
from tests.server.clients import RawClient, appendCommand
from tests.test_contrib import ACTIVATE
from tests.test_plugin import REPO, TWISTD, freePort

IDLERS = 200
DEADLINE = 30.0


class WorkersServer:
    """twistd -n idlemail with C{workers} over a fresh Maildir tree; stopped by its pid."""

    def __init__(self, tmp_path, workers=2, listen=None, extra=""):
        self.tmp, self.port = tmp_path, freePort()
        self.listen = listen or f"tcp:{self.port}:interface=127.0.0.1"
        for sub in ("cur", "new", "tmp"):
            (tmp_path / "mail" / "alice" / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / "passwd").write_text("alice:{PLAIN}alicepw::::::\n")
        (tmp_path / "idlemail.toml").write_text(
            # 200 idlers of one user from one address: over Dovecot's limit of 10.
            f'[server]\nlisten = ["{self.listen}"]\nworkers = {workers}\n'
            f'max_userip_connections = 1000\n{extra}'
            f'[server.maildir]\nroot = "{tmp_path}/mail"\npasswd_file = "{tmp_path}/passwd"\n')
        self.command = [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile=-",
                        "idlemail", "--config", "idlemail.toml"]
        self.proc = None

    def start(self, command=None):
        self.logFile = open(self.tmp / "twistd.log", "wb")
        self.proc = subprocess.Popen(command or self.command, cwd=self.tmp, stdout=self.logFile,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": REPO})
        return self

    @property
    def log(self) -> str:
        return (self.tmp / "twistd.log").read_text(errors="replace")

    def workerPids(self) -> list[int]:
        return [p for p in processTree(self.proc.pid) if p != self.proc.pid]

    def waitForWorkers(self, count=2, exclude=()):
        """The workers' pids once C{count} are serving (each has logged so)."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log
            pids = [p for p in self.workerPids() if p not in exclude]
            if len(pids) >= count and all(f"serving (pid {p})" in self.log for p in pids):
                return pids
            time.sleep(0.05)
        raise AssertionError(f"workers not serving in {DEADLINE} s: {self.log}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in reversed(processTree(self.proc.pid)):
                    os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.logFile.close()


@pytest.fixture
def workers(tmp_path):
    server = WorkersServer(tmp_path).start()
    yield server
    server.stop()


def connectionsByPid(pids, serverPort) -> dict[int, int]:
    """client port -> the pid holding the server side of that loopback connection."""
    inodes = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    held = {}
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.split(":")[1], 16) == serverPort and inode in inodes:
                held[int(remote.split(":")[1], 16)] = inodes[inode]
    return held


def idler(port) -> RawClient:
    client = RawClient("127.0.0.1", port, timeout=DEADLINE)
    client.login()
    assert client.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    client.send(b"i IDLE\r\n")
    assert client.readline().startswith(b"+ ")
    return client


def holder(client, pids, port) -> int:
    return connectionsByPid(pids, port)[client.sock.getsockname()[1]]


def test_two_workers_serve_200_idlers_on_one_port_and_an_append_reaches_them_all(workers):
    pids = workers.waitForWorkers()
    idlers = [idler(workers.port) for _ in range(IDLERS)]
    try:
        held = connectionsByPid(pids, workers.port)
        owners = [held[c.sock.getsockname()[1]] for c in idlers]
        assert set(owners) == set(pids), {p: owners.count(p) for p in pids}
        appender = RawClient("127.0.0.1", workers.port)
        appender.login()
        through = holder(appender, pids, workers.port)
        assert through in owners and set(owners) - {through}  # idlers on the other one too
        message = b"Subject: across workers\r\n\r\nhello\r\n"
        answer = appender.command(b"a", appendCommand(b"INBOX", message))[-1]
        # Idlers of the other worker hear of it through inotify on the Maildir.
        for client in idlers:
            assert client.readline() == b"* 1 EXISTS"
        appender.close()
    finally:
        for client in idlers:
            client.close()
    assert "worker 1 started" in workers.log and "[worker-2]" in workers.log
    assert answer.startswith(b"a OK"), answer


def test_a_killed_worker_is_started_again_and_serves(workers):
    first = workers.waitForWorkers()
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    [survivor] = [p for p in first if p != victim]
    [replacement] = workers.waitForWorkers(1, exclude=first)
    assert f"(pid {victim}) was killed by SIGKILL" in workers.log
    # Which worker accepts is the kernel's pick (a warm survivor may win every race):
    # with the survivor stopped, only the replacement can take the connection.
    os.kill(survivor, signal.SIGSTOP)
    try:
        client = idler(workers.port)
        try:
            assert holder(client, [survivor, replacement], workers.port) == replacement
        finally:
            client.close()
    finally:
        os.kill(survivor, signal.SIGCONT)
    client = idler(workers.port)  # and the survivor serves on
    client.close()


def test_sigterm_to_the_parent_stops_every_worker_and_waits(workers):
    pids = workers.waitForWorkers()
    workers.proc.send_signal(signal.SIGTERM)
    # twistd ends as its signal says (Twisted re-raises SIGTERM once it has shut down).
    assert workers.proc.wait(timeout=DEADLINE) in (0, -signal.SIGTERM)
    for pid in pids:  # reaped by the parent before it exited
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    for pid in pids:
        assert (f"(pid {pid}) exited with 0" in workers.log
                or f"(pid {pid}) was killed by SIGTERM" in workers.log), workers.log
    assert "starting it again" not in workers.log


def test_workers_stop_by_themselves_when_the_parent_is_gone(workers):
    pids = workers.waitForWorkers()
    workers.proc.send_signal(signal.SIGKILL)
    workers.proc.wait(timeout=DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
            for p in pids):
        time.sleep(0.05)
    alive = [p for p in pids if os.path.exists(f"/proc/{p}")
             and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == []


def test_ssl_endpoints_are_served_by_every_worker(tmp_path):
    pem = selfSigned(tmp_path)
    port = freePort()
    server = WorkersServer(tmp_path, listen=f"ssl:{port}:privateKey={pem}:interface=127.0.0.1")
    server.port = port
    server.start()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        pids = server.waitForWorkers()
        seen = set()
        for _ in range(60):
            with context.wrap_socket(__import__("socket").create_connection(
                    ("127.0.0.1", port), timeout=DEADLINE)) as s:
                assert s.recv(100).startswith(b"* OK")
                seen.add(connectionsByPid(pids, port)[s.getsockname()[1]])
            if seen == set(pids):
                break
        assert seen == set(pids)
    finally:
        server.stop()


@pytest.mark.skipif(not os.access(ACTIVATE, os.X_OK), reason=f"{ACTIVATE} is missing")
def test_a_socket_from_systemd_is_handed_to_the_workers(tmp_path):
    server = WorkersServer(tmp_path, listen="systemd:domain=INET:index=0")
    command = [ACTIVATE, "-l", f"127.0.0.1:{server.port}", "--fdname=imap", "-E", "PYTHONPATH",
               *server.command]
    server.start(command)
    try:
        # systemd-socket-activate starts twistd on the first connection.
        client = None
        deadline = time.monotonic() + DEADLINE
        while client is None:
            try:
                client = RawClient("127.0.0.1", server.port, timeout=DEADLINE)
            except OSError:
                assert time.monotonic() < deadline, server.log
                time.sleep(0.1)
        assert client.greeting.startswith(b"* OK")
        client.login()
        client.close()
        assert len(server.waitForWorkers()) == 2
    finally:
        server.stop()
