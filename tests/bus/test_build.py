"""The server is built with the bus [server.bus] names, started and stopped with it."""

import pytest_twisted

from idlemail.bus.local import LocalBus
from idlemail.bus.redis import UP, RedisBus
from idlemail.config import parseConfig
from idlemail.tap import buildService
from tests.bus.test_redis import until


def serverConfig(tmp_path, **bus):
    server = {"listen": ["tcp:0:interface=127.0.0.1"],
              "maildir": {"root": str(tmp_path), "passwd_file": str(tmp_path / "passwd")}}
    if bus:
        server["bus"] = bus
    return parseConfig({"server": server}, "test.toml")


def test_the_bus_is_in_process_by_default(tmp_path):
    top = buildService(serverConfig(tmp_path))
    assert type(top.server.bus) is LocalBus
    assert top.server.bus in list(top.server)  # a child service: started with the server


@pytest_twisted.ensureDeferred
async def test_a_redis_bus_connects_when_the_server_starts(tmp_path, redis):
    top = buildService(serverConfig(tmp_path, kind="redis", endpoint=redis.endpoint))
    bus = top.server.bus
    assert isinstance(bus, RedisBus) and bus.endpointText == redis.endpoint
    top.privilegedStartService()
    top.startService()
    try:
        await until(lambda: bus.state == UP)
    finally:
        await top.stopService()
    assert bus._publisher is None and bus._listener is None
