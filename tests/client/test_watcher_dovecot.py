"""
MailboxWatcher and the notifier against a real Dovecot (Debian's dovecot-imapd) on a
loopback port: push, restarts with mail arriving meanwhile, a frozen server, UIDVALIDITY.
"""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import sys

import pytest_twisted
from twisted.internet import reactor, threads

from idlemail.client.cursor import CursorStore
from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.notifier.service import NotifierService
from idlemail.testing import notifierConfig
from idlemail.testing.conformance import waitFor
from tests.client.test_watcher import Events


def settings(dovecot, **overrides) -> WatchSettings:
    values = dict(account="dc", server=f"tcp:127.0.0.1:{dovecot.port}", username="alice",
                  password="alicepw", plaintext=True, backoffInitial=0.1, backoffMax=0.5,
                  commandTimeout=3.0, downAfter=0.0)
    values.update(overrides)
    return WatchSettings(**values)


def append(dovecot, n: int) -> None:
    m = imaplib.IMAP4(dovecot.host, dovecot.port)
    m.login("alice", "alicepw")
    m.append("INBOX", None, None, b"From: x@example.org\r\nSubject: dc %d\r\n\r\nhi\r\n" % n)
    m.logout()


def drop(dovecot, n: int) -> None:
    """An MDA delivery straight into the Maildir (works while Dovecot is down)."""
    maildir = dovecot.maildir("alice")
    name = f"1700000000.M{n}P7.mda"
    (maildir / "tmp" / name).write_bytes(b"Subject: dropped %d\n\nx\n" % n)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)
    if os.getuid() == 0:
        shutil.chown(maildir / "new" / name, dovecot.mailUid, dovecot.mailGid)


async def started(dovecot, events, cursors=None, **overrides):
    watcher = MailboxWatcher(settings(dovecot, **overrides), events, cursors, reactor=reactor)
    watcher.startService()
    await events.waitCount("account.up", 1, timeout=20)
    return watcher


@pytest_twisted.ensureDeferred
async def test_dovecot_push_reaches_the_watcher(dovecot):
    events = Events()
    watcher = await started(dovecot, events)
    try:
        assert "IDLE" in watcher.capabilities
        await waitFor(lambda: watcher.state == "idling")
        await threads.deferToThread(append, dovecot, 1)
        await events.waitCount("message.new", 1, timeout=20)
        new = events.named("message.new")[0]
        assert new.uid == 1 and new.headers["subject"] == "dc 1"
    finally:
        await watcher.stopService()


@pytest_twisted.ensureDeferred
async def test_a_dovecot_restart_loses_and_repeats_nothing(dovecot, tmp_path):
    events = Events()
    watcher = await started(dovecot, events, CursorStore(tmp_path / "state.json"))
    try:
        await threads.deferToThread(append, dovecot, 1)
        await events.waitCount("message.new", 1, timeout=20)
        dovecot.stop()
        await events.waitCount("account.down", 1, timeout=20)
        for n in (2, 3):
            drop(dovecot, n)
        dovecot.start()
        await events.waitCount("account.up", 2, timeout=30)
        await events.waitCount("message.new", 3, timeout=20)
        uids = [e.uid for e in events.named("message.new")]
        assert uids == [1, 2, 3]
        assert watcher.connections == 2
    finally:
        await watcher.stopService()


@pytest_twisted.ensureDeferred
async def test_a_frozen_dovecot_is_detected_and_the_watcher_comes_back(dovecot):
    events = Events()
    watcher = await started(dovecot, events, keepaliveTimeout=1.0, commandTimeout=1.0)
    try:
        dovecot.pause()  # SIGSTOP: the socket stays open, nothing answers
        await events.waitCount("account.down", 1, timeout=20)
        assert "timed out" in (events.named("account.down")[0].reason or "").lower() \
            or events.named("account.down")[0].reason
        dovecot.resume()
        await events.waitCount("account.up", 2, timeout=30)
        await threads.deferToThread(append, dovecot, 1)
        await events.waitCount("message.new", 1, timeout=20)
    finally:
        dovecot.resume()
        await watcher.stopService()


@pytest_twisted.ensureDeferred
async def test_a_new_uidvalidity_is_one_reset_event(dovecot, tmp_path):
    cursors = CursorStore(tmp_path / "state.json")
    events = Events()
    watcher = await started(dovecot, events, cursors)
    await threads.deferToThread(append, dovecot, 1)
    await events.waitCount("message.new", 1, timeout=20)
    await watcher.stopService()
    dovecot.stop()
    maildir = dovecot.maildir("alice")
    for name in os.listdir(maildir):
        if name.startswith("dovecot"):
            os.unlink(maildir / name)
    (maildir / "dovecot-uidlist").write_text("3 V1234 N1\n")
    if os.getuid() == 0:
        shutil.chown(maildir / "dovecot-uidlist", dovecot.mailUid, dovecot.mailGid)
    dovecot.start()
    again = Events()
    watcher = await started(dovecot, again, cursors)
    try:
        assert len(again.named("uidvalidity.reset")) == 1
        assert again.named("message.new") == []
    finally:
        await watcher.stopService()


HOOK = r"""
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith("IDLEMAIL_")}) + "\n")
"""


@pytest_twisted.ensureDeferred
async def test_new_mail_on_dovecot_runs_the_exec_sink(dovecot, tmp_path):
    hook, ran = tmp_path / "hook.py", tmp_path / "ran.jsonl"
    hook.write_text(HOOK)
    config = notifierConfig("dc", dovecot.port, "alice", "alicepw", [
        {"kind": "exec", "argv": [sys.executable, str(hook), str(ran)]}], tmp_path / "state.json")
    events = Events()
    service = NotifierService(config, reactor=reactor, callback=events)
    service.startService()
    try:
        await events.waitCount("account.up", 1, timeout=20)
        await threads.deferToThread(append, dovecot, 5)
        await events.waitCount("message.new", 1, timeout=20)
        await waitFor(lambda: ran.exists() and ran.read_text().strip(), timeout=20)
        env = json.loads(ran.read_text().splitlines()[0])
        assert env["IDLEMAIL_EVENT"] == "message.new" and env["IDLEMAIL_UID"] == "1"
        assert env["IDLEMAIL_SUBJECT"] == "dc 5" and env["IDLEMAIL_ACCOUNT"] == "dc"
    finally:
        await service.stopService()
