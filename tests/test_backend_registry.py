"""
Backends are found one way: built-in and plugin backends are IBackendFactory providers,
looked up by name; a plugin's mistakes are named by file and table like ours.
"""

import imaplib
import os
import subprocess
import sys
import textwrap

import pytest
from twisted.internet import reactor
from zope.interface.verify import verifyObject

from idlemail.backends.memory import MemoryBackend
from idlemail.backends.registry import BUILT_IN, backendFactories, buildBackend
from idlemail.errors import ConfigError
from idlemail.interfaces import IBackendFactory
from tests.test_plugin import REPO, TWISTD, freePort, stop, waitForPort

PLUGIN = '''
from twisted.plugin import IPlugin
from zope.interface import implementer

from idlemail.errors import ConfigError
from idlemail.interfaces import IBackendFactory


@implementer(IPlugin, IBackendFactory)
class Fixed:
    name = "fixed"

    def build(self, section, reactor):
        from idlemail.backends.memory import MemoryBackend
        unknown = set(section) - {"password"}
        if unknown:
            raise ConfigError(f"{unknown.pop()}: unknown key")
        return MemoryBackend({"fixed": section.get("password", "fixedpw")})


fixed = Fixed()
'''


def test_the_built_in_backends_are_backend_factories():
    assert {f.name for f in BUILT_IN} == {"maildir", "memory", "remote"}
    for factory in BUILT_IN:
        assert verifyObject(IBackendFactory, factory)
    assert [f.name for f in backendFactories()][:3] == ["maildir", "memory", "remote"]


def test_a_built_in_backend_error_names_the_file_and_table():
    with pytest.raises(ConfigError) as e:
        buildBackend("memory", {"users": {"a": 1}}, "f.toml", reactor)
    assert str(e.value) == "f.toml: server.memory.users.a: expected a password string"
    with pytest.raises(ConfigError) as e:
        buildBackend("maildir", {"poll_interval": "often"}, "f.toml", reactor)
    assert str(e.value).startswith("f.toml: server.maildir.poll_interval: 'often' is not a")
    assert isinstance(buildBackend("memory", {}, "f.toml", reactor), MemoryBackend)


def pluginPath(tmp_path) -> str:
    plugins = tmp_path / "site" / "twisted" / "plugins"  # no __init__.py: a namespace
    plugins.mkdir(parents=True)
    (plugins / "idlemail_fixed.py").write_text(textwrap.dedent(PLUGIN))
    return f"{REPO}{os.pathsep}{tmp_path / 'site'}"


def test_a_plugin_backend_is_served_by_twistd(tmp_path):
    port = freePort()
    (tmp_path / "idlemail.toml").write_text(
        f'[server]\nlisten = ["tcp:{port}:interface=127.0.0.1"]\nbackend = "fixed"\n')
    proc = subprocess.Popen([sys.executable, "-c", TWISTD, "-n", "--pidfile=", "idlemail",
                             "--config", "idlemail.toml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": pluginPath(tmp_path)})
    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("fixed", "fixedpw")
        m.logout()
    finally:
        stop(proc)


def test_a_plugin_error_is_one_line_naming_file_and_table(tmp_path):
    (tmp_path / "idlemail.toml").write_text(
        '[server]\nbackend = "fixed"\n[server.fixed]\ncolour = "blue"\n')
    done = subprocess.run([sys.executable, "-c", TWISTD, "-n", "idlemail", "--config",
                           "idlemail.toml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": pluginPath(tmp_path)})
    assert (done.stderr, done.returncode) == (
        "idlemail: idlemail.toml: server.fixed.colour: unknown key\n", 2)
