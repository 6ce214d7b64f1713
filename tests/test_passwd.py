"""
The Dovecot-style passwd-file: every scheme we read, what we write, and the cred checker.
"""

import os
import shutil
import subprocess
import sys
import threading

import pytest
import pytest_twisted
from passlib.hash import sha512_crypt
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin

from idlemail import passwd as P
from tests.test_plugin import REPO


@pytest.mark.parametrize("scheme", P.SCHEMES)
def test_each_scheme_round_trips(scheme):
    stored = P.hashPassword("s3cret", scheme)
    assert stored.startswith("{" + scheme + "}")
    assert P.verifyPassword("s3cret", stored)
    assert not P.verifyPassword("wrong", stored)


@pytest.mark.parametrize("stored", [
    "{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash("pw"),
    "{PLAIN}pw",
    "{BLF-CRYPT}" + P.hashPassword("pw", "BLF-CRYPT")[len("{BLF-CRYPT}"):].replace("$2b$", "$2y$", 1),
])
def test_lines_dovecot_writes_verify(stored):
    assert P.verifyPassword("pw", stored)


LONG = "correct horse battery staple " * 4  # 116 bytes: past bcrypt's 72


def test_blf_crypt_past_72_bytes_verifies_as_dovecot_does():
    """Dovecot's bcrypt reads the first 72 bytes; bcrypt 5 raises instead of truncating."""
    stored = P.hashPassword(LONG, "BLF-CRYPT")
    assert P.verifyPassword(LONG, stored)
    assert P.verifyPassword(LONG[:72] + "anything after byte 72", stored)
    assert not P.verifyPassword(LONG[:71], stored)


@pytest.mark.skipif(not shutil.which("doveadm"), reason="doveadm (dovecot-core) is not installed")
def test_a_long_blf_crypt_password_made_by_doveadm_verifies():
    made = subprocess.run(["doveadm", "pw", "-s", "BLF-CRYPT", "-p", LONG], capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    stored = made.stdout.strip()
    assert stored.startswith("{BLF-CRYPT}$2y$")
    assert P.verifyPassword(LONG, stored) and not P.verifyPassword(LONG[:71], stored)


def test_no_warning_at_start():
    """passlib 1.7 warned on every start ('crypt' is deprecated); its fork libpass does not."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "from idlemail.passwd import hashPassword, verifyPassword; "
         "assert verifyPassword('pw', hashPassword('pw', 'SHA512-CRYPT'))"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    assert (done.returncode, done.stderr) == (0, "")


def test_unknown_scheme_and_garbage_never_verify():
    assert not P.verifyPassword("pw", "{MD5-CRYPT}$1$abc")
    assert not P.verifyPassword("pw", "{ARGON2ID}not-a-hash")


def test_malformed_lines_are_skipped_and_others_kept(tmp_path):
    path = tmp_path / "passwd"
    path.write_text("alice:{PLAIN}a::::::\nbroken line\n:nouser\nbob:{PLAIN}b:1000:1000::/home/bob::\n")
    f = P.PasswdFile(path)
    assert set(f.entries()) == {"alice", "bob"}
    f.setPassword("alice", "new")
    text = path.read_text()
    assert "bob:{PLAIN}b:1000:1000::/home/bob::" in text and "broken line" in text
    assert P.verifyPassword("new", f.lookup("alice").password)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest_twisted.ensureDeferred
async def test_check_password_runs_off_the_reactor_thread(tmp_path, monkeypatch):
    path = tmp_path / "passwd"
    P.PasswdFile(path).setPassword("alice", "pw", "PLAIN")
    threadsSeen = []
    real = P.verifyPassword

    def spy(password, stored):
        threadsSeen.append(threading.current_thread() is threading.main_thread())
        return real(password, stored)

    monkeypatch.setattr(P, "verifyPassword", spy)
    f = P.PasswdFile(path)
    assert await f.checkPassword("alice", "pw") is True
    assert await f.checkPassword("alice", "no") is False
    assert await f.checkPassword("nobody", "pw") is False
    assert threadsSeen and not any(threadsSeen)


@pytest_twisted.ensureDeferred
async def test_cred_checker(tmp_path):
    path = tmp_path / "passwd"
    P.PasswdFile(path).setPassword("alice", "pw", "PLAIN")
    checker = P.PasswdChecker(P.PasswdFile(path))
    assert await checker.requestAvatarId(UsernamePassword(b"alice", b"pw")) == "alice"
    with pytest.raises(UnauthorizedLogin):
        await checker.requestAvatarId(UsernamePassword(b"alice", b"nope"))


def cli(tmp_path, *args, stdin=""):
    # PYTHONPATH: this checkout's idlemail, not whichever one is installed.
    return subprocess.run([sys.executable, "-m", "idlemail.cli", *args], cwd=tmp_path,
                          input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": REPO})


def test_adduser_and_passwd_from_the_command_line(tmp_path):
    (tmp_path / "c.toml").write_text(
        '[server]\nbackend = "maildir"\n[server.maildir]\nroot = "data"\n')
    done = cli(tmp_path, "adduser", "--config", "c.toml", "--password-stdin", "carol",
               stdin="first\n")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "carol" / "Maildir" / "new").is_dir()
    entry = P.PasswdFile(tmp_path / "data" / "passwd").lookup("carol")
    assert entry.password.startswith("{ARGON2ID}") and P.verifyPassword("first", entry.password)
    again = cli(tmp_path, "adduser", "--config", "c.toml", "--password-stdin", "carol",
                stdin="x\n")
    assert again.returncode != 0 and "exists already" in again.stderr
    changed = cli(tmp_path, "passwd", "--config", "c.toml", "--password-stdin", "carol",
                  stdin="second\n")
    assert changed.returncode == 0
    entry = P.PasswdFile(tmp_path / "data" / "passwd").lookup("carol")
    assert P.verifyPassword("second", entry.password)


@pytest.mark.parametrize("args, fragment", [
    (("adduser", "--password-stdin", "bad:name"), "not a valid user name"),
    (("adduser", "--password-stdin", "../x"), "not a valid user name"),
    (("passwd", "--password-stdin", "nobody"), "no user 'nobody'"),
    (("adduser", "--config", "missing.toml", "--password-stdin", "dan"), "missing.toml: no such file"),
    (("check-config", "--config", "missing.toml"), "missing.toml: no such file"),
])
def test_cli_errors_are_one_line(tmp_path, args, fragment):
    done = cli(tmp_path, *args, stdin="pw\n")
    assert done.returncode != 0
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
