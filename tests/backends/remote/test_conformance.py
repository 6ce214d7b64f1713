"""
The remote backend passes the shared backend conformance suite, in front of idlemail's
own server (memory backend) and of a real Dovecot.
"""

import pytest_twisted
from twisted.internet import reactor

from idlemail.backends.remote.backend import RemoteBackend
from idlemail.testing.conformance import BackendConformanceTests
from tests.backends.remote.conftest import remoteSettings


class TestRemoteBackendOverIdlemail(BackendConformanceTests):
    @pytest_twisted.async_yield_fixture
    async def backend(self, upstream):
        backend = RemoteBackend(remoteSettings(upstream.port), reactor)
        yield backend
        await backend.close()
