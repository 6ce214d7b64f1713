"""
Logs: no "Starting factory <...0x7f...>" noise in the plain log, and
C{twistd --logger idlemail.logs.json} writes one JSON object per line.
"""

import imaplib
import json
import time

from twisted.logger import LogLevel
from twisted.python.failure import Failure

from idlemail.logs import eventAsJSON
from tests.test_plugin import freePort, serverAndNotifier, stop, twistd, waitForPort

def runBoth(tmp_path, *twistdArgs) -> str:
    """Server and notifier from one config; one client session; the log, as text."""
    port = freePort()
    (tmp_path / "both.toml").write_text(serverAndNotifier(port))
    proc = twistd(tmp_path, "--config", "both.toml", options=("--pidfile=", *twistdArgs))
    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("bob", "bobpw")
        m.logout()
        events = tmp_path / "events.jsonl"
        waitUntil(lambda: events.exists() and b"account.up" in events.read_bytes())
    finally:
        out = stop(proc)
    return out.decode()


def waitUntil(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_plain_log_has_no_factory_noise(tmp_path):
    log = runBoth(tmp_path, "--logfile=-")
    assert "idlemail serving IMAP on" in log
    assert "Starting factory" not in log and "Stopping factory" not in log, log
    assert "0x7f" not in log, log


def test_the_json_logger_writes_one_object_per_line(tmp_path):
    log = runBoth(tmp_path, "--logger", "idlemail.logs.json")
    records = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    assert records and all({"time", "level", "namespace", "text"} <= set(r) for r in records)
    banner = next(r for r in records if r["text"].startswith("idlemail serving IMAP"))
    assert banner["namespace"] == "idlemail.tap" and banner["level"] == "info"
    assert banner["backend"] == "memory"  # the event's own fields, for filtering
    assert banner["time"].endswith("+00:00")
    assert not any("Starting factory" in r["text"] for r in records)


def test_a_failure_and_odd_fields_still_make_one_line_of_json():
    try:
        1 / 0
    except ZeroDivisionError:
        failure = Failure()
    event = {"log_time": 0.0, "log_level": LogLevel.error, "log_namespace": "idlemail.test",
             "log_format": "Login failed for {user!r} from {remote}", "log_failure": failure,
             "user": "bob\nnewline", "remote": ("127.0.0.1", 5555), "raw": b"\xff\x00",
             "log_system": "IMAPServerProtocol,0,127.0.0.1"}
    line = eventAsJSON(event)
    assert "\n" not in line
    record = json.loads(line)
    assert record["text"] == "Login failed for 'bob\\nnewline' from ('127.0.0.1', 5555)"
    assert record["user"] == "bob\nnewline" and record["remote"] == ["127.0.0.1", 5555]
    assert record["raw"] == "\ufffd\x00" and record["level"] == "error"
    assert record["system"] == "IMAPServerProtocol,0,127.0.0.1"
    assert "ZeroDivisionError" in record["traceback"]
    assert record["time"] == "1970-01-01T00:00:00.000+00:00"
