"""
The servers under test, each started as its own process tree on a loopback port and stopped
by its own pid: idlemail (twistd, Maildir or memory backend) and Dovecot (Debian's
dovecot-imapd, private config).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitForGreeting(port: int, proc=None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no IMAP greeting on port {port} within {timeout} s")


def makeMaildir(mailRoot: Path, user: str) -> Path:
    maildir = mailRoot / user / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return maildir


def preload(maildir: Path, count: int) -> None:
    """C{count} messages already in cur/, seen, as an existing mail store would hold."""
    now = int(time.time()) - 86400
    for i in range(count):
        body = (b"From: old@example.org\r\nSubject: old %d\r\n"
                b"Message-ID: <old-%d@example.org>\r\n\r\nold message\r\n" % (i, i))
        name = "%d.M%dP1.preload:2,S" % (now, i)
        (maildir / "cur" / name).write_bytes(body)


class IdlemailServer:
    name = "idlemail"

    def __init__(self, workdir: Path, users: dict, backend: str = "maildir",
                 mailRoot: Path | None = None):
        self.workdir, self.users, self.backend = workdir, users, backend
        self.mailRoot = mailRoot or workdir / "mail"
        self.port = freePort()
        self.proc = None
        self.log = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def maildir(self, user: str) -> Path:
        return self.mailRoot / user / "Maildir"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "idlemail.toml"
        listen = f"tcp:{self.port}:interface=127.0.0.1:backlog=4096"
        lines = ["[server]", f'listen = ["{listen}"]', f'backend = "{self.backend}"']
        if self.backend == "memory":
            users = ", ".join(f'{u} = "{p}"' for u, p in self.users.items())
            lines += ["[server.memory]", f"users = {{ {users} }}"]
        else:
            passwd = self.workdir / "passwd"
            passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
            for user in self.users:
                makeMaildir(self.mailRoot, user)
            lines += ["[server.maildir]", f'root = "{self.mailRoot}"', f'passwd_file = "{passwd}"']
        config.write_text("\n".join(lines) + "\n")
        self.log = open(self.workdir / "idlemail.log", "wb")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile=-",
             "idlemail", "--config", str(config)],
            cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        waitForGreeting(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


BENCH_DOVECOT_CONFIG = """
mail_max_userip_connections = 20000
"""


class DovecotBenchServer:
    """Dovecot with stock IDLE settings and its limits raised for thousands of idlers."""

    name = "dovecot"

    def __init__(self, workdir: Path, users: dict, mailRoot: Path | None = None):
        from idlemail.testing.dovecot import DovecotServer
        self.mailRoot = mailRoot or workdir / "mail"
        for user in users:
            makeMaildir(self.mailRoot, user)
        self.server = DovecotServer(workdir, users, mailRoot=self.mailRoot,
                                    extraConfig=BENCH_DOVECOT_CONFIG)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def pid(self) -> int:
        return self.server.pid

    def maildir(self, user: str) -> Path:
        return self.mailRoot / user / "Maildir"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
