"""
The twistd plugin: found by Twisted, starts a server from a config, and rejects a
bad config with one readable line.
"""

import imaplib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins


def test_plugin_is_found():
    makers = {m.tapname: m for m in getPlugins(IServiceMaker)}
    assert "idlemail" in makers
    assert makers["idlemail"].module == "idlemail.tap"
    assert makers["idlemail"].options().__class__.__name__ == "Options"


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twistd(tmp_path, *args, options=("--pidfile=", "--logfile=-")):
    """C{twistd -n OPTIONS idlemail ARGS} in C{tmp_path}, on this checkout's idlemail."""
    return subprocess.Popen(
        [sys.executable, "-c", TWISTD, "-n", *options, "idlemail", *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO})


def memoryServer(port: int) -> str:
    """A [server] table: the memory backend with bob/bobpw on C{port}."""
    return f"""
[server]
listen = ["tcp:{port}:interface=127.0.0.1"]
backend = "memory"
[server.memory]
users = {{ bob = "bobpw" }}
"""


def notifierOf(port: int, user: str = "bob", password: str = "bobpw") -> str:
    """A [notifier] table watching the INBOX of C{user} on C{port}, into events.jsonl."""
    return f"""
[notifier]
state_file = "state.json"
[[notifier.accounts]]
name = "home"
server = "tcp:127.0.0.1:{port}"
plaintext = true
username = "{user}"
password = "{password}"
sinks = [{{ kind = "jsonl", path = "events.jsonl" }}]
"""


def serverAndNotifier(port: int) -> str:
    return memoryServer(port) + notifierOf(port)


def waitForPort(port: int, proc, timeout: float = 20) -> None:
    """Wait until the server greets on C{port} (listening alone is not serving yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"twistd exited: {proc.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(1):
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not greet in time")


def stop(proc) -> bytes:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_twistd_serves_the_configured_memory_backend(tmp_path):
    port = freePort()
    (tmp_path / "idlemail.toml").write_text(f"""
[server]
listen = ["tcp:{port}:interface=127.0.0.1"]
backend = "memory"
[server.memory]
users = {{ alice = "alicepw", bob = "bobpw" }}
""")
    proc = twistd(tmp_path, "--config", "idlemail.toml")
    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("bob", "bobpw")
        assert m.select("INBOX") == ("OK", [b"0"])
        m.logout()
    finally:
        log = stop(proc)
    assert b"idlemail serving IMAP" in log


@pytest.mark.parametrize("config,fragment", [
    ("[server]\nlisten = 5\n", "server.listen: expected a list"),
    ("[server]\nbackend = \"nosuch\"\n", "server.backend: unknown backend 'nosuch'"),
    ("[server]\nidle_keepalive = \"soon\"\n", "server.idle_keepalive: 'soon' is not a duration"),
    ("[server]\nautologout = \"5m\"\n", "server.autologout: must be at least 30m"),
    ("[server]\nbackend = \"memory\"\n[server.memory]\nusers = { a = 1 }\n", "server.memory.users.a"),
    ("[server]\nlisten_on = []\n", "server.listen_on: unknown key"),
    ("[server\n", "not valid TOML"),
    ("title = 1\n", "title: unknown key"),
])
def test_a_bad_config_gets_one_line_naming_the_key(tmp_path, config, fragment):
    (tmp_path / "bad.toml").write_text(config)
    proc = twistd(tmp_path, "--config", "bad.toml")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    text = err.decode()
    assert fragment in text, text
    assert "Traceback" not in text + out.decode()
    assert len(text.strip().splitlines()) == 1, text


def test_a_missing_config_file_is_named(tmp_path):
    proc = twistd(tmp_path, "--config", "nope.toml")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"nope.toml: no such file" in err


def test_twistd_runs_server_and_notifier_from_one_config(tmp_path):
    port = freePort()
    (tmp_path / "both.toml").write_text(serverAndNotifier(port))
    proc = twistd(tmp_path, "--config", "both.toml")
    events = tmp_path / "events.jsonl"
    try:
        waitForPort(port, proc)
        deadline = time.monotonic() + 20
        while b"account.up" not in (events.read_bytes() if events.exists() else b""):
            assert time.monotonic() < deadline, "the notifier never came up"
            time.sleep(0.05)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("bob", "bobpw")
        m.append("INBOX", None, None, b"Subject: via twistd\r\n\r\nhello\r\n")
        m.logout()
        while b"message.new" not in events.read_bytes():
            assert time.monotonic() < deadline, events.read_text()
            time.sleep(0.05)
        doctor = subprocess.run([sys.executable, "-m", "idlemail.cli", "doctor", "--config",
                                 "both.toml"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    finally:
        stop(proc)
    import json
    new = [json.loads(x) for x in events.read_text().splitlines() if "message.new" in x]
    assert new[0]["subject"] == "via twistd" and new[0]["uid"] == 1
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "home: ok: authenticated as 'bob'" in doctor.stdout
    assert "IDLE round trip" in doctor.stdout


def test_a_bad_notifier_config_names_the_key(tmp_path):
    (tmp_path / "bad.toml").write_text("""
[[notifier.accounts]]
name = "home"
server = "tcp:127.0.0.1:1"
username = "bob"
password = "x"
sinks = [{ kind = "jsonl" }]
""")
    proc = twistd(tmp_path, "--config", "bad.toml")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert b"notifier.accounts[0].server: a tcp: server sends the password in clear" in err
    assert b"Traceback" not in err


@pytest.mark.parametrize("args, fragment", [
    (("--bogus",), "option --bogus not recognized"),
    (("--listen", "nonsense:x"), "--listen: 'nonsense:x': unknown endpoint type 'nonsense'"),
])
def test_bad_options_get_one_line(tmp_path, args, fragment):
    proc = twistd(tmp_path, *args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    text = err.decode()
    assert fragment in text and "Traceback" not in text + out.decode()
    assert len(text.strip().splitlines()) == 1, text
