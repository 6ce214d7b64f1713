"""
The sinks, each with a real peer: a real child process, a real local HTTP server, a file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web import resource, server

from idlemail.client.events import WatchEvent
from idlemail.errors import ConfigError
from idlemail.notifier.sinks import (
    CallbackSink,
    ExecSink,
    JSONLinesSink,
    WebhookSink,
    buildSink,
)
from idlemail.testing.conformance import waitFor as until


def newMail(uid: int, mailbox: str = "INBOX") -> WatchEvent:
    return WatchEvent("message.new", "home", mailbox, uidvalidity=77, uid=uid,
                      headers={"from": "Carol <carol@example.org>", "subject": "Lunch?"})


RECORDER = r"""
import json, os, sys, time
data = sys.stdin.read()
env = {k: v for k, v in os.environ.items() if k.startswith("IDLEMAIL_")}
time.sleep(float(sys.argv[2]))
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"env": env, "stdin": data}) + "\n")
"""


def runs(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest_twisted.ensureDeferred
async def test_exec_sink_passes_fields_as_env_and_json_on_stdin(tmp_path):
    script, out = tmp_path / "rec.py", tmp_path / "runs.jsonl"
    script.write_text(RECORDER)
    sink = ExecSink([sys.executable, str(script), str(out), "0"])
    await sink.deliver(newMail(42))
    [run] = runs(out)
    assert run["env"]["IDLEMAIL_EVENT"] == "message.new"
    assert run["env"]["IDLEMAIL_UID"] == "42"
    assert run["env"]["IDLEMAIL_UIDVALIDITY"] == "77"
    assert run["env"]["IDLEMAIL_SUBJECT"] == "Lunch?"
    assert run["env"]["IDLEMAIL_ACCOUNT"] == "home"
    assert json.loads(run["stdin"])["uid"] == 42


@pytest_twisted.ensureDeferred
async def test_exec_sink_runs_one_at_a_time_and_coalesces(tmp_path):
    script, out = tmp_path / "rec.py", tmp_path / "runs.jsonl"
    script.write_text(RECORDER)
    sink = ExecSink([sys.executable, str(script), str(out), "0.5"])
    first = sink.deliver(newMail(1))
    for uid in (2, 3, 4):
        sink.deliver(newMail(uid))
    await first
    await until(lambda: len(runs(out)) >= 2)
    await task.deferLater(reactor, 0.7, lambda: None)
    done = runs(out)
    assert len(done) == 2
    assert done[0]["env"]["IDLEMAIL_UID"] == "1"
    assert done[1]["env"]["IDLEMAIL_UID"] == "4"
    assert done[1]["env"]["IDLEMAIL_COALESCED"] == "2"


@pytest_twisted.ensureDeferred
async def test_exec_sink_kills_a_command_that_overruns(tmp_path):
    script, out = tmp_path / "rec.py", tmp_path / "runs.jsonl"
    script.write_text(RECORDER)
    sink = ExecSink([sys.executable, str(script), str(out), "30"], timeout=0.3)
    await defer.ensureDeferred(sink.deliver(newMail(1))).addTimeout(10, reactor)
    assert runs(out) == []


class Hook(resource.Resource):
    isLeaf = True

    def __init__(self, codes):
        super().__init__()
        self.codes, self.requests = list(codes), []

    def render_POST(self, request):
        body = request.content.read()
        self.requests.append((dict((k.decode(), v[0].decode())
                                   for k, v in request.requestHeaders.getAllRawHeaders()), body))
        request.setResponseCode(self.codes.pop(0) if self.codes else 200)
        return b"ok"


@pytest_twisted.async_yield_fixture
async def webhook():
    hooks = []

    async def start(codes=()):
        hook = Hook(codes)
        port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            server.Site(hook))
        hooks.append(port)
        return hook, f"http://127.0.0.1:{port.getHost().port}/hook"

    yield start
    for port in hooks:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_webhook_posts_signed_json_with_idempotency_key(webhook):
    hook, url = await webhook()
    sink = WebhookSink(url, secret="s3cret", retries=0)
    assert await sink.deliver(newMail(9)) is True
    [(headers, body)] = hook.requests
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Idlemail-Signature"] == expected
    assert headers["Idempotency-Key"] == "home/INBOX/77/9/message.new"
    data = json.loads(body)
    assert data["uid"] == 9 and data["id"] == headers["Idempotency-Key"]


@pytest_twisted.ensureDeferred
async def test_webhook_retries_server_errors_but_not_client_errors(webhook):
    hook, url = await webhook([500, 503])
    sink = WebhookSink(url, retries=3, backoff=0.05)
    assert await sink.deliver(newMail(1)) is True
    assert len(hook.requests) == 3
    hook2, url2 = await webhook([400])
    sink2 = WebhookSink(url2, retries=3, backoff=0.05)
    assert await sink2.deliver(newMail(2)) is False
    assert len(hook2.requests) == 1


@pytest_twisted.ensureDeferred
async def test_webhook_gives_up_after_its_retries_when_nobody_listens():
    sink = WebhookSink("http://127.0.0.1:9/none", retries=2, backoff=0.05, timeout=2)
    assert await sink.deliver(newMail(1)) is False


@pytest_twisted.ensureDeferred
async def test_jsonl_sink_appends_one_object_per_line(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = JSONLinesSink(str(path))
    await sink.deliver(newMail(1))
    await sink.deliver(newMail(2))
    await sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["uid"] for line in lines] == [1, 2]
    assert lines[0]["subject"] == "Lunch?" and "time" in lines[0]


@pytest_twisted.ensureDeferred
async def test_callback_sink_awaits_and_a_failing_sink_never_stops_another():
    from idlemail.notifier.service import Relay
    seen = []

    async def good(event):
        seen.append(event.uid)

    def bad(event):
        raise RuntimeError("boom")

    await CallbackSink(good).deliver(newMail(5))
    with pytest.raises(RuntimeError):  # the relay logs and counts it
        await CallbackSink(bad).deliver(newMail(6))
    await Relay([CallbackSink(bad), CallbackSink(good)])(newMail(7))
    assert seen == [5, 7]


@pytest.mark.parametrize("spec, key", [
    ({"kind": "exec"}, "sinks[0].argv: is required"),
    ({"kind": "exec", "argv": []}, "sinks[0].argv: expected a non-empty list of strings"),
    ({"kind": "webhook", "url": "ftp://x"}, "sinks[0].url"),
    ({"kind": "carrier-pigeon"}, "sinks[0].kind: unknown sink kind"),
    ({"kind": "jsonl", "colour": "red"}, "sinks[0].colour: unknown key"),
])
def test_bad_sink_config_names_the_key(spec, key):
    with pytest.raises(ConfigError) as e:
        buildSink(spec, "cfg.toml", "sinks[0]", reactor)
    assert str(e.value).startswith("cfg.toml: ") and key in str(e.value)
