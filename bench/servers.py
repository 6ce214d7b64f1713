"""
The servers under test, each started as its own process tree on a loopback port and stopped
by its own pid: idlemail (twistd, Maildir or memory backend) and Dovecot (Debian's
dovecot-imapd, private config).
"""

from __future__ import annotations

import os
import shutil
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


def chosenServers(spec: str) -> list[str] | None:
    """The servers a C{--servers} list names; None (said why) if Dovecot is wanted and
    not installed."""
    servers = [s.strip() for s in spec.split(",") if s.strip()]
    if "dovecot" in servers and not shutil.which("dovecot", path="/usr/sbin:/usr/bin:/sbin"):
        print("bench: dovecot is not installed (apt-get install -y dovecot-imapd)",
              file=sys.stderr)
        return None
    return servers


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
    """
    idlemail as users run it: C{twistd -n idlemail --config FILE} in its own process.

    C{listen} is an endpoint string with C{{port}} in it (default: a free loopback port with
    a large backlog). C{adduser=True} makes the users with C{idlemail adduser
    --password-stdin} (ARGON2ID, as users make them) instead of writing C{{PLAIN}} lines.
    C{serverConfig} lines go into C{[server]} as they are (a line may open a subtable,
    C{[server.bus]}), C{backendConfig} lines into C{[server.maildir]}. The data dir
    survives C{stop()}, so one set of users and mailboxes serves several fresh server
    processes.
    """

    name = "idlemail"

    def __init__(self, workdir: Path, users: dict, backend: str = "maildir",
                 mailRoot: Path | None = None, listen: str | None = None,
                 port: int | None = None, adduser: bool = False,
                 serverConfig: tuple[str, ...] = (), backendConfig: tuple[str, ...] = (),
                 passwordFields: dict[str, str] | None = None):
        self.workdir, self.users, self.backend = workdir, users, backend
        self.passwordFields = dict(passwordFields or {})
        self.mailRoot = mailRoot or workdir / "mail"
        self.port = port or freePort()
        self.listen = listen or "tcp:{port}:interface=127.0.0.1:backlog=4096"
        self.adduser, self.serverConfig = adduser, tuple(serverConfig)
        self.backendConfig = tuple(backendConfig)
        self.config = workdir / "idlemail.toml"
        self.proc = None
        self.log = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def env(self) -> dict:
        return {**os.environ, "PYTHONPATH": str(REPO)}

    def maildir(self, user: str) -> Path:
        return self.mailRoot / user / "Maildir"

    def prepare(self) -> None:
        """Write the config and make the users (once)."""
        if self.config.exists():
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        listen = self.listen.format(port=self.port)
        lines = ["[server]", f'listen = ["{listen}"]', f'backend = "{self.backend}"',
                 *self.serverConfig]
        passwd = self.workdir / "passwd"
        if self.backend == "memory":
            users = ", ".join(f'{u} = "{p}"' for u, p in self.users.items())
            lines += ["[server.memory]", f"users = {{ {users} }}"]
        else:
            lines += ["[server.maildir]", f'root = "{self.mailRoot}"',
                      f'passwd_file = "{passwd}"', *self.backendConfig]
        self.config.write_text("\n".join(lines) + "\n")
        if self.backend != "maildir":
            return
        if self.adduser:
            for user, password in self.users.items():
                # The console script `idlemail` is this module run by this interpreter.
                subprocess.run([sys.executable, "-m", "idlemail.cli", "adduser", user,
                                "--config", str(self.config), "--password-stdin"],
                               input=password.encode() + b"\n", env=self.env, check=True,
                               stdout=subprocess.DEVNULL, timeout=60)
        else:
            passwd.write_text("".join(
                f"{u}:{self.passwordFields.get(u, '{PLAIN}' + p)}::::::\n"
                for u, p in self.users.items()))
            for user in self.users:
                makeMaildir(self.mailRoot, user)

    def start(self) -> None:
        self.prepare()
        self.log = open(self.workdir / "idlemail.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile=-",
             "idlemail", "--config", str(self.config)],
            cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        try:
            waitForGreeting(self.port, self.proc)
        except RuntimeError:
            self.stop(timeout=5)
            raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after C{timeout} s (a server stuck on its reactor thread
        never runs its SIGTERM handler)."""
        if self.proc is None or self.proc.poll() is not None:
            if self.log:
                self.log.close()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


BENCH_DOVECOT_CONFIG = """
mail_max_userip_connections = 20000
"""
#: idlemail's per-user-and-address limit raised as BENCH_DOVECOT_CONFIG raises Dovecot's: the
#: benches open thousands of sessions of one user from 127.0.0.1.
BENCH_IDLEMAIL_CONFIG = ("max_userip_connections = 20000",)


class DovecotBenchServer:
    """Dovecot with stock IDLE settings and its limits raised for thousands of idlers."""

    name = "dovecot"

    def __init__(self, workdir: Path, users: dict, mailRoot: Path | None = None,
                 extraConfig: str = BENCH_DOVECOT_CONFIG,
                 passwordFields: dict[str, str] | None = None):
        from idlemail.testing.dovecot import DovecotServer
        self.mailRoot = mailRoot or workdir / "mail"
        for user in users:
            makeMaildir(self.mailRoot, user)
        self.server = DovecotServer(workdir, users, mailRoot=self.mailRoot,
                                    extraConfig=extraConfig, passwordFields=passwordFields)

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
