"""
password_command runs as a child of the reactor (issue 12 item 10, issue 14 item 8): a slow
command holds up only its own account, a hung one is killed, and a shell command line is
accepted as goimapnotify's passwordCmd is.
"""

from __future__ import annotations

import time

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from idlemail.errors import ConfigError
from idlemail.notifier.config import parseNotifier
from idlemail.notifier.password import runPasswordCommand
from idlemail.notifier.service import NotifierService
from idlemail.testing import listenLocal, memoryBackend
from tests.client.test_watcher import Events


def account(name: str, port: int, **password) -> dict:
    return {"name": name, "server": f"tcp:127.0.0.1:{port}", "plaintext": True,
            "username": "alice", "sinks": [{"kind": "jsonl", "path": "/dev/null"}], **password}


@pytest_twisted.ensureDeferred
async def test_a_slow_password_command_does_not_hold_up_another_account(tmp_path):
    port, factory = listenLocal(memoryBackend())
    number = port.getHost().port
    config = parseNotifier({"state_file": str(tmp_path / "state.json"), "accounts": [
        account("slow", number, password_command="sleep 2; echo alicepw"),
        account("quick", number, password="alicepw")]}, "test-config")
    events = Events()
    service = NotifierService(config, reactor=reactor, callback=events)
    gaps, last = [], [time.monotonic()]

    def beat():
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now
    heart = task.LoopingCall(beat)
    heart.clock = reactor
    heart.start(0.05)
    service.startService()
    try:
        await events.wait(lambda ev: {e.account for e in ev.named("account.up")} == {"slow", "quick"},
                          timeout=20)
    finally:
        heart.stop()
        await service.stopService()
        for session in list(factory.sessions):
            session.transport.abortConnection()
        await port.stopListening()
    ups = [e.account for e in events.named("account.up")]
    assert ups == ["quick", "slow"]
    # subprocess.run on the reactor thread stopped this heartbeat for the 2 s of sleep.
    assert max(gaps) < 1.0, max(gaps)


@pytest_twisted.ensureDeferred
async def test_a_hung_password_command_is_killed_and_named():
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^acct.password_command: no answer after 0.5 s"):
        await runPasswordCommand(reactor, ["sleep", "30"], "acct.password_command", timeout=0.5)
    assert time.monotonic() - started < 10


@pytest_twisted.ensureDeferred
async def test_a_shell_command_line_is_run_by_sh():
    assert await runPasswordCommand(reactor, "printf 'one\\ntwo\\n' | tail -1", "k") == "two"
    with pytest.raises(ConfigError, match=r"^k: exited with 3: nope"):
        await runPasswordCommand(reactor, "echo nope >&2; exit 3", "k")
