"""
README's first command: `twistd -n idlemail` with no config serves the Maildir tree under
./idlemail-data with a demo user, and an IMAPClient idler sees mail from a second client and
from an MDA dropping files into the Maildir.
"""

import os
import re
import subprocess
import sys
import time

from imapclient import IMAPClient

from tests.test_plugin import REPO, TWISTD, freePort, notifierOf, stop, twistd, waitForPort


def idleUntil(client, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        seen += client.idle_check(timeout=1)
        if predicate(seen):
            return seen
    raise AssertionError(f"no matching push within {timeout} s: {seen}")


def test_first_run_creates_the_data_and_a_demo_user_that_can_idle(tmp_path):
    port = freePort()
    proc = twistd(tmp_path, "--listen", f"tcp:{port}:interface=127.0.0.1")
    try:
        waitForPort(port, proc)
        password = (tmp_path / "idlemail-data" / "demo-password").read_text().strip()
        assert "demo:{ARGON2ID}" in (tmp_path / "idlemail-data" / "passwd").read_text()
        idler = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10)
        idler.login("demo", password)
        idler.select_folder("INBOX")
        idler.idle()
        sender = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10)
        sender.login("demo", password)
        sender.append("INBOX", b"Subject: from a client\r\n\r\nhi\r\n")
        idleUntil(idler, lambda seen: (1, b"EXISTS") in seen)
        maildir = tmp_path / "idlemail-data" / "demo" / "Maildir"
        (maildir / "tmp" / "1.M1P1.mda").write_bytes(b"Subject: from an MDA\n\nhi\n")
        os.rename(maildir / "tmp" / "1.M1P1.mda", maildir / "new" / "1.M1P1.mda")
        idleUntil(idler, lambda seen: (2, b"EXISTS") in seen)
        idler.idle_done()
        fetched = idler.fetch([2], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert b"from an MDA" in fetched[2][b"BODY[HEADER.FIELDS (SUBJECT)]"]
        idler.logout()
        sender.logout()
    finally:
        log = stop(proc).decode()
    assert re.search(r"log in as user 'demo' with password '[^']+'", log), log
    assert "maildir backend" in log


def test_a_second_run_keeps_the_demo_password(tmp_path):
    port = freePort()
    for _ in range(2):
        proc = twistd(tmp_path, "--listen", f"tcp:{port}:interface=127.0.0.1")
        try:
            waitForPort(port, proc)
        finally:
            log = stop(proc).decode()
        password = (tmp_path / "idlemail-data" / "demo-password").read_text().strip()
        assert repr(password) in log


NOTIFIER_COMMAND = "twistd -n --pidfile notifier.pid idlemail --config notifier.toml"


def test_readme_notifier_command_runs_next_to_the_server(tmp_path):
    """
    Both twistd processes in one directory, as README's commands have them: without a pid
    file of its own the second refuses ("Another twistd server is running").
    """
    readme = open(os.path.join(REPO, "README.md")).read()
    assert f"\n{NOTIFIER_COMMAND}\n" in readme
    port = freePort()
    # Pid files where twistd puts them: twistd.pid for the server, as README's first command.
    server = twistd(tmp_path, "--listen", f"tcp:{port}:interface=127.0.0.1", options=())
    notifier = None
    try:
        waitForPort(port, server)
        password = (tmp_path / "idlemail-data" / "demo-password").read_text().strip()
        (tmp_path / "notifier.toml").write_text(notifierOf(port, "demo", password))
        clash = subprocess.run([sys.executable, "-c", TWISTD, "-n", "idlemail", "--config",
                                "notifier.toml"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60, env={**os.environ, "PYTHONPATH": REPO})
        assert clash.returncode != 0 and "Another twistd server is running" in clash.stdout + clash.stderr
        assert NOTIFIER_COMMAND.split()[:5] == ["twistd", "-n", "--pidfile", "notifier.pid", "idlemail"]
        notifier = twistd(tmp_path, *NOTIFIER_COMMAND.split()[5:], options=("--pidfile", "notifier.pid"))
        events = tmp_path / "events.jsonl"
        deadline = time.monotonic() + 20
        while b"account.up" not in (events.read_bytes() if events.exists() else b""):
            assert notifier.poll() is None, notifier.communicate()
            assert time.monotonic() < deadline, "the notifier never came up"
            time.sleep(0.05)
        assert (tmp_path / "notifier.pid").exists() and (tmp_path / "twistd.pid").exists()
    finally:
        if notifier is not None:
            stop(notifier)
        stop(server)

