"""
Fixtures shared across the suite: a real Dovecot from Debian's dovecot-imapd, on a loopback
port with a private config, stopped by its own pid.
"""

import pytest

from idlemail.testing.dovecot import DovecotServer

USERS = {"alice": "alicepw", "bob": "bobpw"}


@pytest.fixture
def dovecot():
    if not DovecotServer.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    server = DovecotServer.temporary(USERS)
    server.start()
    yield server
    server.cleanup()
    assert server.proc.poll() is not None
