"""
The whole notifier in-process against idlemail's own server: new mail runs the exec sink and
lands in the JSON-lines file; a Python callback sees the same events.
"""

from __future__ import annotations

import json
import sys

import pytest_twisted
from twisted.internet import reactor

from idlemail.notifier.service import NotifierService
from idlemail.testing import listenLocal, memoryBackend, notifierConfig
from idlemail.testing.conformance import waitFor as until

HOOK = r"""
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"uid": os.environ.get("IDLEMAIL_UID"),
                        "subject": os.environ.get("IDLEMAIL_SUBJECT"),
                        "stdin": json.loads(sys.stdin.read())}) + "\n")
"""


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest_twisted.ensureDeferred
async def test_new_mail_reaches_exec_jsonl_and_callback(tmp_path):
    backend = memoryBackend()
    port, factory = listenLocal(backend)
    hook, ran, events = tmp_path / "hook.py", tmp_path / "ran.jsonl", tmp_path / "events.jsonl"
    hook.write_text(HOOK)
    config = notifierConfig("home", port.getHost().port, "bob", "bobpw", [
        {"kind": "jsonl", "path": str(events)},
        {"kind": "exec", "argv": [sys.executable, str(hook), str(ran)]}], tmp_path / "state.json")
    seen = []
    service = NotifierService(config, reactor=reactor, callback=seen.append)
    service.startService()
    try:
        await until(lambda: any(e.event == "account.up" for e in seen))
        backend.deliver("bob", b"From: a@example.org\r\nSubject: hello bob\r\n\r\nhi\r\n")
        await until(lambda: len(lines(ran)) == 1)
        [run] = lines(ran)
        assert run["uid"] == "1" and run["subject"] == "hello bob"
        assert run["stdin"]["event"] == "message.new"
        kinds = [e["event"] for e in lines(events)]
        assert kinds == ["account.up", "message.new"]
        assert [e.event for e in seen] == kinds
    finally:
        await service.stopService()
        for session in list(factory.sessions):
            session.transport.abortConnection()
        await port.stopListening()
    assert json.loads((tmp_path / "state.json").read_text())["cursors"]["home/INBOX"]["highest"] == 1
