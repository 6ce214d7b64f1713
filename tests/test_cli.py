"""
The C{idlemail} command: --version, pw, check-config --print, and one line with exit
status 2 for every failure. Run as a user runs it, in a subprocess.
"""

import os
import pty
import select
import signal
import subprocess
import sys

import pytest
import tomllib

import idlemail
from idlemail.config import loadConfig
from idlemail.passwd import SCHEMES, verifyPassword
from tests.test_plugin import REPO


def cli(*args, cwd=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "idlemail.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": REPO})


def test_version():
    done = cli("--version")
    assert (done.stdout, done.returncode) == (f"idlemail {idlemail.__version__}\n", 0)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pw_hashes_a_password_for_a_passwd_file_line(scheme):
    done = cli("pw", "--scheme", scheme.lower(), "--password-stdin", stdin="s3cret pw\n")
    assert done.returncode == 0, done.stderr
    stored = done.stdout.strip()
    assert stored.startswith("{" + scheme + "}") and "\n" not in stored
    assert verifyPassword("s3cret pw", stored) and not verifyPassword("s3cret", stored)


def onTerminal(args, dialogue) -> tuple[int, str]:
    """
    Run the CLI on a pseudo-terminal; for each (prompt, answer) wait for the prompt, then
    type the answer. Bounded: the child is killed if a prompt does not come in 20 s.
    """
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PYTHONPATH"] = REPO
        os.execv(sys.executable, [sys.executable, "-m", "idlemail.cli", *args])
    screen = bytearray()

    def readMore() -> bool:
        if not select.select([fd], [], [], 20)[0]:
            raise TimeoutError(bytes(screen))
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child has gone
            return False
        screen.extend(chunk)
        return bool(chunk)
    try:
        for prompt, answer in dialogue:
            while not screen.endswith(prompt):
                assert readMore(), bytes(screen)
            os.write(fd, answer + b"\n")
        while readMore():
            pass
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode().replace("\r", "")


def test_pw_prompts_twice_on_a_terminal():
    status, screen = onTerminal(["pw", "--scheme", "SHA512-CRYPT"],
                                [(b"Password: ", b"s3cret"), (b"Again: ", b"s3cret")])
    assert status == 0, screen
    assert screen.startswith("Password: \nAgain: \n{SHA512-CRYPT}$6$")
    assert verifyPassword("s3cret", screen.splitlines()[-1])


def test_pw_refuses_two_different_answers():
    status, screen = onTerminal(["pw"], [(b"Password: ", b"one"), (b"Again: ", b"two")])
    assert (status, screen.splitlines()[-1]) == (2, "idlemail: the passwords differ")


@pytest.mark.parametrize("args, line", [
    ((), "idlemail: the following arguments are required: command (see: idlemail --help)"),
    (("pw", "--scheme", "MD5"),
     "idlemail: argument --scheme/-s: invalid choice: 'MD5' (choose from "
     "'ARGON2ID', 'BLF-CRYPT', 'SHA512-CRYPT', 'PLAIN') (see: idlemail pw --help)"),
    (("frobnicate",), "idlemail: argument command: invalid choice: 'frobnicate' (choose from "
                      "'adduser', 'passwd', 'pw', 'check-config', 'doctor', 'notify-change') "
                      "(see: idlemail --help)"),
    (("check-config", "--config", "nope.toml"), "idlemail: nope.toml: no such file"),
    (("pw", "--password-stdin"), "idlemail: an empty password is not allowed"),
    (("pw",), "idlemail: no terminal to ask for the password on; use --password-stdin"),
])
def test_every_cli_failure_is_one_line_and_status_2(tmp_path, args, line):
    done = cli(*args, cwd=tmp_path, stdin="\n")
    assert (done.stderr, done.returncode) == (line + "\n", 2)


def test_check_config_print_shows_the_defaults_and_reads_back(tmp_path):
    (tmp_path / "idlemail.toml").write_text("""
[server]
listen = ["tcp:11430:interface=127.0.0.1"]
idle_keepalive = "90s"
[server.maildir]
root = "/srv/mail"

[metrics]
listen = "tcp:9143:interface=127.0.0.1"
""")
    done = cli("check-config", "--print", "--config", "idlemail.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"# idlemail {idlemail.__version__}: idlemail.toml")
    printed = tomllib.loads(done.stdout)
    assert printed["server"] == {
        "listen": ["tcp:11430:interface=127.0.0.1"], "backend": "maildir",
        "idle_keepalive": "90s", "autologout": "30m", "append_limit": "50M",
        "workers": 1, "bus": {"kind": "local"},
        "plaintext_auth": "loopback", "trusted_networks": ["127.0.0.0/8", "::1"],
        "max_connections_per_ip": 100, "max_userip_connections": 10,
        "prelogin_timeout": "1m", "auth_threads": 2, "auth_cache_ttl": "1h",
        "notify_max_mailboxes": 100,
        "maildir": {"root": "/srv/mail", "passwd_file": "/srv/mail/passwd",
                    "poll_interval": 2.0, "io_threads": 4,
                    "watch": "inotify"}}
    assert printed["metrics"] == {"listen": "tcp:9143:interface=127.0.0.1"}
    (tmp_path / "printed.toml").write_text(done.stdout)
    again, first = loadConfig(tmp_path / "printed.toml"), loadConfig(tmp_path / "idlemail.toml")
    assert (again.server.listen, again.server.idleKeepalive, again.metrics) == \
        (first.server.listen, first.server.idleKeepalive, first.metrics)


def test_check_config_print_hides_secrets(tmp_path):
    (tmp_path / "idlemail.toml").write_text("""
[server]
backend = "memory"
[server.memory]
users = { alice = "alicepw" }

[[notifier.accounts]]
name = "home"
server = "tls:imap.example.org:993"
username = "bob"
password = "bobpw"
sinks = [{ kind = "webhook", url = "https://hooks.example.org/m", secret = "hmackey" }]
""")
    done = cli("check-config", "--print", "--config", "idlemail.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "alicepw" not in done.stdout and "bobpw" not in done.stdout
    assert "hmackey" not in done.stdout
    printed = tomllib.loads(done.stdout)
    account = printed["notifier"]["accounts"][0]
    assert account["password"] == "(hidden)" and account["username"] == "bob"
    assert account["reidle"] == 600.0 and account["debounce"] == {"wait": 0.0, "max_delay": 5.0}
    assert printed["server"]["memory"] == {"users": {"alice": "(hidden)"}}


def test_check_config_says_what_runs(tmp_path):
    (tmp_path / "idlemail.toml").write_text(
        '[server]\nbackend = "memory"\n[metrics]\nlisten = "tcp:9143"\n')
    done = cli("check-config", "--config", "idlemail.toml", cwd=tmp_path)
    assert done.stdout == ("idlemail.toml: OK: server on tcp:1143:interface=127.0.0.1 (memory); "
                           "metrics on tcp:9143\n")
    assert os.listdir(tmp_path) == ["idlemail.toml"]
