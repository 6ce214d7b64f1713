"""
A real Dovecot (Debian's dovecot-imapd) for tests and benchmarks: private config, own
base_dir, passwd-file and Maildir tree, one loopback port. Never the system service; it is
stopped by its own pid.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/dovecot"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
default_login_user = {loginUser}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{mail}/%u/Maildir
mail_max_userip_connections = 20000
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/passwd
}}
userdb {{
  driver = passwd-file
  args = {base}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 1
  service_count = 0
  client_limit = 20000
  process_limit = 4
}}
service imap {{
  process_limit = 20000
  client_limit = 1
}}
service auth {{
  client_limit = 15000
}}
service anvil {{
  client_limit = 15000
}}
service stats {{
  client_limit = 15000
}}
default_process_limit = 20000
default_client_limit = 15000
{extra}
"""


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processTree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


class DovecotServer:
    host = "127.0.0.1"

    def __init__(self, workdir: Path, users: dict[str, str], port: int | None = None,
                 mailRoot: Path | None = None, extraConfig: str = "",
                 passwordFields: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.users = dict(users)
        # user -> the passwd-file password field (e.g. "{ARGON2ID}$argon2id$..."); {PLAIN}
        # from C{users} for the others.
        self.passwordFields = dict(passwordFields or {})
        self.port = port or freePort()
        self.mailRoot = Path(mailRoot) if mailRoot else self.workdir / "mail"
        self.extraConfig = extraConfig
        self.proc: subprocess.Popen | None = None

    @classmethod
    def temporary(cls, users: dict[str, str], **kwargs) -> "DovecotServer":
        """A server in a fresh directory under /tmp that Dovecot's own users can reach
        (pytest's tmp_path is private to its owner); C{cleanup()} removes it."""
        import tempfile
        workdir = Path(tempfile.mkdtemp(prefix="idlemail-dovecot-"))
        os.chmod(workdir, 0o755)
        server = cls(workdir, users, **kwargs)
        server.ownsWorkdir = True
        return server

    ownsWorkdir = False

    def cleanup(self) -> None:
        self.stop()
        if self.ownsWorkdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def available() -> bool:
        return os.access(DOVECOT, os.X_OK)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def maildir(self, user: str) -> Path:
        return self.mailRoot / user / "Maildir"

    def start(self, timeout: float = 20.0) -> "DovecotServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state"):
            (self.workdir / sub).mkdir(exist_ok=True)
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        loginUser = me
        if os.getuid() == 0:
            # Dovecot's login and internal processes refuse to run as root: use the
            # unprivileged users Debian's package creates.
            loginUser, me, group = "dovenull", "dovecot", "dovecot"
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            # Dovecot will not give mail access to UID 0: the mail belongs to "dovecot".
            uid, gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
        lines = []
        for user, password in self.users.items():
            home = self.mailRoot / user
            for sub in ("cur", "new", "tmp"):
                (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            field = self.passwordFields.get(user, f"{{PLAIN}}{password}")
            lines.append(f"{user}:{field}:{uid}:{gid}::{home}::")
        if os.getuid() == 0:
            for path in [self.mailRoot, *self.mailRoot.rglob("*")]:
                os.chown(path, uid, gid)
        self.mailUid, self.mailGid = uid, gid
        (self.workdir / "passwd").write_text("\n".join(lines) + "\n")
        conf = self.workdir / "dovecot.conf"
        conf.write_text(CONFIG.format(base=self.workdir, user=me, loginUser=loginUser, group=group,
                                      mail=self.mailRoot, port=self.port,
                                      extra=self.extraConfig))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"dovecot exited ({self.proc.returncode}): {err}{self.log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on {self.port} in {timeout} s: {self.log}")

    def pause(self) -> None:
        """Stop the whole process tree (SIGSTOP): a server that no longer answers."""
        self._signalTree(signal.SIGSTOP)

    def resume(self) -> None:
        self._signalTree(signal.SIGCONT)

    def _signalTree(self, sig, pids=None) -> None:
        for pid in pids if pids is not None else processTree(self.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signalTree(signal.SIGKILL, list(reversed(processTree(self.pid))))
            self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
