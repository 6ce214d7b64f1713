"""
Two idlemail processes (twistd, as a user runs them) on one Maildir root with
C{watch = "none"}, as two hosts on shared storage where inotify sees nothing of the other
host: every change one makes reaches the other's idlers over a real redis-server, also
when Redis was down while it was made; an outside delivery is announced with
C{idlemail notify-change}. Each process is stopped by its own pid.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.server.clients import RawClient, appendCommand
from tests.test_plugin import REPO, TWISTD, freePort

DEADLINE = 30.0
MESSAGE = b"Subject: across hosts\r\n\r\nhello\r\n"


class ServerProcess:
    """C{twistd -n idlemail} named C{name}, its own port, the shared Maildir root."""

    def __init__(self, tmp_path, name: str, redisEndpoint: str):
        self.tmp, self.name, self.port = tmp_path, name, freePort()
        self.config = tmp_path / f"{name}.toml"
        self.config.write_text(
            f'[server]\nlisten = ["tcp:{self.port}:interface=127.0.0.1"]\n'
            f'[server.bus]\nkind = "redis"\nendpoint = "{redisEndpoint}"\n'
            f'[server.maildir]\nroot = "{tmp_path}/mail"\npasswd_file = "{tmp_path}/passwd"\n'
            f'watch = "none"\n')
        self.logPath = tmp_path / f"{name}.log"
        self.proc = None

    def start(self):
        self.logFile = open(self.logPath, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile=-", "idlemail",
             "--config", str(self.config)],
            cwd=self.tmp, stdout=self.logFile, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": REPO})
        return self

    @property
    def log(self) -> str:
        return self.logPath.read_text(errors="replace")

    def waitFor(self, text: str, count: int = 1) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.log.count(text) < count:
            assert self.proc.poll() is None, self.log
            assert time.monotonic() < deadline, f"{self.name}: no {text!r} in {self.log}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.logFile.close()


@pytest.fixture
def hosts(tmp_path, redis):
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "mail" / "alice" / "Maildir" / sub).mkdir(parents=True)
    (tmp_path / "passwd").write_text("alice:{PLAIN}alicepw::::::\n")
    started = [ServerProcess(tmp_path, name, redis.endpoint).start() for name in "ab"]
    try:
        for server in started:
            server.waitFor("Redis bus")
            server.waitFor("connected (origin")
        yield started
    finally:
        for server in started:
            server.stop()


def client(server) -> RawClient:
    c = RawClient("127.0.0.1", server.port, timeout=DEADLINE)
    c.login()
    return c


def idler(server) -> RawClient:
    c = client(server)
    assert c.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    c.send(b"i IDLE\r\n")
    assert c.readline().startswith(b"+ ")
    return c


def appendThrough(server) -> None:
    c = client(server)
    try:
        assert c.command(b"a", appendCommand(b"INBOX", MESSAGE))[-1].startswith(b"a OK")
    finally:
        c.close()


def untagged(c: RawClient, wanted: bytes) -> list[bytes]:
    """The idler's lines up to and including the first that starts with C{wanted}."""
    lines = []
    while not lines or not lines[-1].startswith(wanted):
        lines.append(c.readline())
    return lines


def test_an_append_through_one_process_reaches_an_idler_on_the_other(hosts):
    a, b = hosts
    watching = idler(b)
    try:
        appendThrough(a)
        assert untagged(watching, b"* 1 EXISTS")
    finally:
        watching.close()


def test_a_store_and_an_expunge_through_one_process_reach_an_idler_on_the_other(hosts):
    a, b = hosts
    appendThrough(a)
    watching = idler(a)
    changer = client(b)
    try:
        assert changer.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
        assert changer.command(b"f", b"STORE 1 +FLAGS.SILENT (\\Deleted)")[-1].startswith(
            b"f OK")
        fetch = untagged(watching, b"* 1 FETCH (FLAGS (")[-1]
        assert b"\\Deleted" in fetch and fetch.endswith(b" UID 1)"), fetch
        assert changer.command(b"e", b"EXPUNGE")[-1].startswith(b"e OK")
        assert untagged(watching, b"* 1 EXPUNGE")
    finally:
        watching.close()
        changer.close()


def test_an_append_made_while_redis_was_down_reaches_the_other_process_once_it_is_back(
        hosts, redis):
    a, b = hosts
    watching = idler(b)
    try:
        redis.kill()
        for server in hosts:
            server.waitFor("changes reach this process's sessions only")
        appendThrough(a)  # served while Redis is down
        redis.start()
        for server in hosts:
            server.waitFor("connected again after")
        assert untagged(watching, b"* 1 EXISTS")
    finally:
        watching.close()


def test_notify_change_after_an_outside_drop_makes_the_idler_see_it(hosts, tmp_path):
    a, b = hosts
    watching = idler(b)
    try:
        home = tmp_path / "mail" / "alice" / "Maildir"
        (home / "tmp" / "1700000000.M1P1.mda").write_bytes(MESSAGE)
        os.rename(home / "tmp" / "1700000000.M1P1.mda", home / "new" / "1700000000.M1P1.mda")
        watching.sock.settimeout(1.0)  # watch = "none": nobody sees the drop by itself
        with pytest.raises(TimeoutError):
            watching.readline()
        watching.sock.settimeout(DEADLINE)
        done = subprocess.run(
            [sys.executable, "-m", "idlemail.cli", "notify-change", "--config", str(a.config),
             "--verbose", "alice", "INBOX"],
            cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE,
            env={**os.environ, "PYTHONPATH": REPO})
        assert done.returncode == 0, done.stderr
        assert done.stdout == "alice's INBOX: told 1 process(es)\n"  # b: a has no idler
        assert untagged(watching, b"* 1 EXISTS")
    finally:
        watching.close()


def test_notify_change_without_redis_is_one_line_and_status_1(tmp_path):
    config = tmp_path / "idlemail.toml"
    config.write_text(f'[server]\n[server.bus]\nkind = "redis"\n'
                      f'endpoint = "tcp:127.0.0.1:{freePort()}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "idlemail.cli", "notify-change", "--config", str(config),
         "alice"], capture_output=True, text=True, timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": REPO})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("idlemail: Redis bus: connection refused by tcp:127.0.0.1:")
    assert done.stderr.count("\n") == 1


def test_notify_change_with_a_local_bus_is_refused_in_one_line(tmp_path):
    config = tmp_path / "idlemail.toml"
    config.write_text('[server]\n')
    done = subprocess.run(
        [sys.executable, "-m", "idlemail.cli", "notify-change", "--config", str(config),
         "alice"], capture_output=True, text=True, timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 2
    assert done.stderr == (f"idlemail: {config}: server.bus.kind is 'local': there is no bus "
                           "between processes to publish on (kind = \"redis\" needed)\n")
