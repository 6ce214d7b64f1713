"""
The Maildir backend passes the shared backend conformance suite, with inotify and without.
"""

import pytest

from idlemail.testing.conformance import BackendConformanceTests


class TestMaildirBackend(BackendConformanceTests):
    @pytest.fixture
    def backend(self, makeBackend):
        return makeBackend()


class TestMaildirBackendPolling(BackendConformanceTests):
    @pytest.fixture
    def backend(self, makeBackend):
        return makeBackend(useInotify=False, pollInterval=0.1)
