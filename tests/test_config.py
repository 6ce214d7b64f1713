"""
The config loader: good configs become dataclasses, bad ones one line naming the key.
"""

import os
import subprocess
import sys

import pytest

from idlemail.config import loadConfig, parseDuration, parseSize
from idlemail.errors import ConfigError
from idlemail.settings import formatDuration
from tests.test_plugin import REPO


def write(tmp_path, text):
    path = tmp_path / "idlemail.toml"
    path.write_text(text)
    return path


def test_server_defaults_and_values(tmp_path):
    config = loadConfig(write(tmp_path, """
[server]
listen = ["tcp:11430:interface=127.0.0.1", "tcp:11431:interface=127.0.0.1"]
backend = "memory"
idle_keepalive = "90s"
autologout = "1h"
append_limit = "10M"
[server.memory]
users = { alice = "alicepw" }
"""))
    server = config.server
    assert server.listen == ("tcp:11430:interface=127.0.0.1", "tcp:11431:interface=127.0.0.1")
    assert (server.backend, server.backendSection) == ("memory", {"users": {"alice": "alicepw"}})
    assert (server.idleKeepalive, server.autologout, server.appendLimit) == (90.0, 3600.0, 10 * 1024 ** 2)
    assert config.notifier is None


@pytest.mark.parametrize("value,seconds", [
    ("30s", 30), ("2m", 120), ("1h", 3600), ("250ms", 0.25), (15, 15), ("0", 0), (1.5, 1.5)])
def test_durations(value, seconds):
    assert parseDuration(value, "k", "f") == seconds


@pytest.mark.parametrize("value", ["soon", "-1s", "5 parsecs", True, "1m30"])
def test_bad_durations(value):
    with pytest.raises(ConfigError) as e:
        parseDuration(value, "server.idle_keepalive", "f.toml")
    assert str(e.value).startswith("f.toml: server.idle_keepalive: ")


@pytest.mark.parametrize("value,octets", [("50M", 50 * 1024 ** 2), ("64KiB", 65536), (1000, 1000), ("1G", 1024 ** 3)])
def test_sizes(value, octets):
    assert parseSize(value, "k", "f") == octets


@pytest.mark.parametrize("text,message", [
    ("", "needs a [server] or a [notifier] table"),
    ("[server]\nlisten = []\n", "server.listen: needs at least one endpoint"),
    ("[server]\nlisten = [1]\n", "server.listen: expected a list of strings"),
    ("[server]\nbackend = 3\n", "server.backend: expected a str, got int"),
    ("[server]\nappend_limit = \"lots\"\n", "server.append_limit: 'lots' is not a size"),
    ("[server]\nidle_keepalive = true\n", "server.idle_keepalive: expected a duration"),
])
def test_bad_configs(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        loadConfig(write(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_an_unknown_key_close_to_a_known_one_gets_did_you_mean(tmp_path):
    with pytest.raises(ConfigError) as e:
        loadConfig(write(tmp_path, "[server]\nidle_keepalve = \"2m\"\n"))
    assert str(e.value).endswith("server.idle_keepalve: unknown key (did you mean 'idle_keepalive'?)")
    with pytest.raises(ConfigError) as e:
        loadConfig(write(tmp_path, "[server]\nzzz = 1\n"))
    assert str(e.value).endswith("server.zzz: unknown key")


def test_the_metrics_table(tmp_path):
    config = loadConfig(write(tmp_path, "[server]\n[metrics]\nlisten = \"tcp:9143\"\n"))
    assert config.metrics.listen == "tcp:9143"
    with pytest.raises(ConfigError) as e:
        loadConfig(write(tmp_path, "[server]\n[metrics]\nlisen = \"tcp:9143\"\n"))
    assert str(e.value).endswith("metrics.listen: is required")


def test_settings_is_a_leaf_and_the_configs_import_no_circle():
    """idlemail.settings imports nothing of idlemail but errors; the notifier's config and
    sinks and the backend registry do not import idlemail.config (which imports them)."""
    code = ("import sys, idlemail.settings; "
            "assert {m for m in sys.modules if m.startswith('idlemail.')} == {'idlemail.settings', 'idlemail.errors'}; "
            "import idlemail.notifier.config, idlemail.notifier.sinks; "
            "assert 'idlemail.config' not in sys.modules, 'notifier imports idlemail.config'; "
            "import idlemail.backends.registry as r; r.effectiveSection('maildir', {}, 'f'); "
            "assert 'idlemail.config' not in sys.modules, 'the backend registry imports it'; "
            "from idlemail.config import Table, parseDuration, parseSize")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("seconds, text", [(120, "2m"), (90, "90s"), (3600, "1h"), (0.25, "250ms"),
                                           (86400, "1d"), (1.5, "1.5s")])
def test_durations_print_as_they_read(seconds, text):
    assert formatDuration(seconds) == text and parseDuration(text, "k", "f") == seconds


def test_workers_and_the_bus(tmp_path):
    config = loadConfig(write(tmp_path, """
[server]
workers = 2
[server.bus]
kind = "redis"
endpoint = "tls:redis.example.org:6380"
"""))
    assert config.server.workers == 2
    assert (config.server.bus.kind, config.server.bus.endpoint) == (
        "redis", "tls:redis.example.org:6380")
    default = loadConfig(write(tmp_path, "[server]\n")).server
    assert (default.workers, default.bus.kind, default.bus.endpoint) == (1, "local", None)


@pytest.mark.parametrize("text,line", [
    ("[server]\nworkers = 0\n", "server.workers: must be from 1 to 256"),
    ("[server]\nworkers = \"2\"\n", "server.workers: expected an int, got str"),
    ("[server]\nbackend = \"memory\"\nworkers = 2\n",
     "server.workers: the memory backend keeps mail inside one process; several workers "
     "need backend = \"maildir\""),
    ("[server.bus]\nkind = \"redsi\"\n",
     "server.bus.kind: 'redsi' is not a bus (use \"local\" or \"redis\") (did you mean 'redis'?)"),
    ("[server.bus]\nkind = \"redis\"\n",
     "server.bus.endpoint: is required with kind = \"redis\" (e.g. \"tcp:127.0.0.1:6379\")"),
    ("[server.bus]\nkind = \"redis\"\nendpoint = \"tcp:localhost\"\n",
     "server.bus.endpoint: 'tcp:localhost' has no port (e.g. \"tcp:localhost:6379\")"),
    ("[server.bus]\nkind = \"redis\"\nendpoint = \"redis://x:6379\"\n",
     "server.bus.endpoint: 'redis://x:6379' is not an endpoint (use e.g. "
     "\"tls:redis.example.org:6380\" or \"tcp:127.0.0.1:6379\")"),
    ("[server.bus]\nendpoint = \"tcp:127.0.0.1:6379\"\n",
     "server.bus.endpoint: is only for kind = \"redis\""),
    ("[server.bus]\nkind = \"redis\"\nendpiont = \"tcp:127.0.0.1:6379\"\n",
     "server.bus.endpiont: unknown key (did you mean 'endpoint'?)"),
    ("[server]\nbackend = \"memory\"\n[server.bus]\nkind = \"redis\"\n"
     "endpoint = \"tcp:127.0.0.1:6379\"\n",
     "server.bus.kind: the memory backend's mail lives in one process"),
    ("[server]\nbackend = \"remote\"\n[server.bus]\nkind = \"redis\"\n"
     "endpoint = \"tcp:127.0.0.1:6379\"\n",
     "server.bus.kind: the remote backend follows its upstream server from every process"),
])
def test_bad_workers_and_bus_are_one_line_naming_the_key(tmp_path, text, line):
    with pytest.raises(ConfigError) as e:
        loadConfig(write(tmp_path, text))
    assert str(e.value).startswith(f"{tmp_path / 'idlemail.toml'}: {line}")
    assert "\n" not in str(e.value)
