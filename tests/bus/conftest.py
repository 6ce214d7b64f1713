"""A real redis-server (Debian's package) on a free loopback port, stopped by its pid."""

import pytest

from idlemail.testing.redis import RedisServer


@pytest.fixture
def redis():
    if not RedisServer.available():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer().start()
    yield server
    server.cleanup()
    assert server.proc.poll() is not None
