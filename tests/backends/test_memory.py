"""
The memory backend passes the conformance suite.
"""

import pytest

from idlemail.testing import memoryBackend
from idlemail.testing.conformance import BackendConformanceTests


class TestMemoryBackend(BackendConformanceTests):
    @pytest.fixture
    def backend(self):
        return memoryBackend()
