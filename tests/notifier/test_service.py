"""
The whole notifier in-process against idlemail's own server: new mail runs the exec sink and
lands in the JSON-lines file; a Python callback sees the same events.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

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


@pytest_twisted.async_yield_fixture
async def local():
    """idlemail's own server on 127.0.0.1 with a memory backend; C{local.run(config)}
    starts a notifier (stopped after the test, before the server) and returns the list its
    callback fills."""
    backend = memoryBackend()
    port, factory = listenLocal(backend)
    services = []

    def run(config) -> list:
        seen = []
        service = NotifierService(config, reactor=reactor, callback=seen.append)
        service.startService()
        services.append(service)
        return seen
    yield SimpleNamespace(backend=backend, port=port.getHost().port, run=run)
    for service in services:
        await service.stopService()
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_new_mail_reaches_exec_jsonl_and_callback(local, tmp_path):
    hook, ran, events = tmp_path / "hook.py", tmp_path / "ran.jsonl", tmp_path / "events.jsonl"
    hook.write_text(HOOK)
    config = notifierConfig("home", local.port, "bob", "bobpw", [
        {"kind": "jsonl", "path": str(events)},
        {"kind": "exec", "argv": [sys.executable, str(hook), str(ran)]}], tmp_path / "state.json")
    seen = local.run(config)
    await until(lambda: any(e.event == "account.up" for e in seen))
    local.backend.deliver("bob", b"From: a@example.org\r\nSubject: hello bob\r\n\r\nhi\r\n")
    await until(lambda: len(lines(ran)) == 1)
    [run] = lines(ran)
    assert run["uid"] == "1" and run["subject"] == "hello bob"
    assert run["stdin"]["event"] == "message.new"
    kinds = [e["event"] for e in lines(events)]
    assert kinds == ["account.up", "message.new"]
    assert [e.event for e in seen] == kinds
    assert json.loads((tmp_path / "state.json").read_text())["cursors"]["home/INBOX"]["highest"] == 1


STAMP = r"""
import sys, time
label, path = sys.argv[1], sys.argv[2]
with open(path, "a") as f:
    f.write(label + " start\n")
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)
with open(path, "a") as f:
    f.write(label + " end\n")
"""


@pytest_twisted.ensureDeferred
async def test_an_after_sink_runs_once_the_others_have_finished(local, tmp_path):
    """goimapnotify's onNewMailPost: the post command starts after onNewMail ends."""
    stamp, order = tmp_path / "stamp.py", tmp_path / "order.txt"
    stamp.write_text(STAMP)
    config = notifierConfig("home", local.port, "bob", "bobpw", [
        {"kind": "exec", "argv": [sys.executable, str(stamp), "post", str(order)], "after": True},
        {"kind": "exec", "argv": [sys.executable, str(stamp), "sync", str(order), "0.5"]},
    ], tmp_path / "state.json")
    seen = local.run(config)
    await until(lambda: any(e.event == "account.up" for e in seen))
    local.backend.deliver("bob", b"Subject: one\r\n\r\nhi\r\n")
    await until(lambda: order.exists() and order.read_text().count("end") == 2)
    assert order.read_text().split("\n")[:4] == ["sync start", "sync end", "post start", "post end"]


@pytest_twisted.ensureDeferred
async def test_mailboxes_have_their_own_sinks_besides_the_account_ones(local, tmp_path):
    from idlemail.notifier.config import parseNotifier
    everything, lists = tmp_path / "all.jsonl", tmp_path / "lists.jsonl"
    account = await local.backend.login("bob", "bobpw")
    await account.create("Lists/python")
    config = parseNotifier({"state_file": str(tmp_path / "state.json"), "accounts": [{
        "name": "home", "server": f"tcp:127.0.0.1:{local.port}", "plaintext": True,
        "username": "bob", "password": "bobpw",
        "sinks": [{"kind": "jsonl", "path": str(everything), "events": ["message.new"]}],
        "mailboxes": ["INBOX", {"name": "Lists/python", "sinks": [
            {"kind": "jsonl", "path": str(lists), "events": ["message.new"]}]}]}]}, "cfg")
    seen = local.run(config)
    await until(lambda: len([e for e in seen if e.event == "account.up"]) == 2)
    local.backend.deliver("bob", b"Subject: to inbox\r\n\r\nhi\r\n")
    local.backend.deliver("bob", b"Subject: to the list\r\n\r\nhi\r\n", mailbox="Lists/python")
    await until(lambda: len(lines(everything)) == 2 and len(lines(lists)) == 1)
    assert sorted(e["mailbox"] for e in lines(everything)) == ["INBOX", "Lists/python"]
    assert [(e["mailbox"], e["subject"]) for e in lines(lists)] == [("Lists/python", "to the list")]


@pytest_twisted.ensureDeferred
async def test_events_and_sink_failures_are_counted_in_the_metrics(local, tmp_path):
    from prometheus_client import generate_latest

    from idlemail.metrics import Metrics
    from tests.test_metrics import samples
    metrics = Metrics()
    config = notifierConfig("home", local.port, "alice", "alicepw",
                            [{"kind": "jsonl", "path": str(tmp_path / "events.jsonl")}],
                            tmp_path / "state.json")

    def broken(event):
        raise RuntimeError("this sink always fails")
    service = NotifierService(config, reactor=reactor, callback=broken)
    service.metrics = metrics
    service.startService()
    try:
        await until(lambda: lines(tmp_path / "events.jsonl"))  # account.up
        local.backend.deliver("alice", b"Subject: counted\r\n\r\nhi\r\n")
        await until(lambda: any(e["event"] == "message.new"
                                for e in lines(tmp_path / "events.jsonl")))
    finally:
        await service.stopService()
    seen = samples(generate_latest(metrics.registry).decode())
    assert seen[("idlemail_notifier_events_total", (("kind", "message.new"),))] == 1
    assert seen[("idlemail_notifier_events_total", (("kind", "account.up"),))] == 1
    assert seen[("idlemail_notifier_sink_failures_total", (("sink", "callback"),))] == 2
