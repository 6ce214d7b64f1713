"""
The notifier resumes with QRESYNC against idlemail's own server too (both backends), as it
does against Dovecot (tests/client/test_watcher_condstore.py): a flag change and an expunge
made while it was away are one event each, and a restart after that tells nothing again.
"""

from __future__ import annotations

import pytest_twisted
from twisted.internet import reactor, task, threads

from tests.client.test_watcher import Events
from tests.client.test_watcher_condstore import awayAndBack, imap, told, watch
from tests.server.conftest import anyServer  # noqa: F401  (the fixture: both backends)


@pytest_twisted.ensureDeferred
async def test_the_watcher_resumes_with_qresync_against_idlemail(anyServer, tmp_path):
    watcher, events, state = await awayAndBack(anyServer, tmp_path)
    try:
        assert watcher.session.qresync  # one SELECT (QRESYNC ...) answered it all
        await task.deferLater(reactor, 0.3, lambda: None)
        assert told(events) == [("message.expunged", 2), ("flags.changed", 1)]
        assert "\\Flagged" in events.named("flags.changed")[0].flags
        # While it watches: a flag change once, an expunge (VANISHED) once.
        await threads.deferToThread(imap, anyServer, ("STORE", "3", "+FLAGS", "(\\Seen)"))
        await events.waitCount("flags.changed", 2, timeout=20)
        await threads.deferToThread(imap, anyServer, ("STORE", "3", "+FLAGS", "(\\Deleted)"),
                                    ("EXPUNGE",))
        await events.waitCount("message.expunged", 2, timeout=20)
        await task.deferLater(reactor, 0.3, lambda: None)
    finally:
        await watcher.stopService()
    live = told(events)[2:]
    assert live[0] == ("flags.changed", 3) and live[-1] == ("message.expunged", 3)
    assert set(live[1:-1]) <= {("flags.changed", 3)} and len(live) <= 3
    again = Events()
    watcher = await watch(anyServer, again, state)
    await task.deferLater(reactor, 0.5, lambda: None)
    await watcher.stopService()
    assert told(again) == []
