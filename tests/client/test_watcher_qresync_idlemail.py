"""
The notifier resumes with QRESYNC against idlemail's own server too (both backends), as it
does against Dovecot (tests/client/test_watcher_condstore.py): a flag change and an expunge
made while it was away are one event each, and a restart after that tells nothing again.
"""

from __future__ import annotations

import pytest_twisted

from tests.client.test_watcher_condstore import resumesWithQresync
from tests.server.conftest import anyServer  # noqa: F401  (the fixture: both backends)


@pytest_twisted.ensureDeferred
async def test_the_watcher_resumes_with_qresync_against_idlemail(anyServer, tmp_path):
    await resumesWithQresync(anyServer, tmp_path)
