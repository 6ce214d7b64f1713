"""
The [server] keys of the hardening, with Dovecot's defaults, read from TOML and handed to
the server factory by the twistd plugin; a bad value is one line naming the key.
"""

import pytest

from idlemail.config import parseConfig
from idlemail.errors import ConfigError
from idlemail.server.service import IMAPServerService
from idlemail.tap import buildService

KEYS = {"plaintext_auth": "never", "trusted_networks": ["10.0.0.0/8"],
        "max_connections_per_ip": 20, "max_userip_connections": 50,
        "prelogin_timeout": "30s", "auth_threads": 4, "auth_cache_ttl": "10m",
        "special_use": {"Outbox": "\\sent", "Gesendet": "\\Sent"},
        "notify_max_mailboxes": 7}


def serverConfig(**keys):
    return parseConfig({"server": {"backend": "memory", "memory": {"users": {"a": "b"}},
                                   **keys}}, "test.toml").server


def test_the_defaults_are_dovecots():
    s = serverConfig()
    assert (s.plaintextAuth, s.trustedNetworks, s.maxConnectionsPerIP,
            s.maxUserIPConnections, s.preloginTimeout, s.authThreads, s.authCacheTTL) == (
        "loopback", ("127.0.0.0/8", "::1"), 100, 10, 60.0, 2, 3600.0)


def test_the_keys_reach_the_server_factory():
    config = parseConfig({"server": {"backend": "memory", "listen": ["tcp:0:interface=127.0.0.1"],
                                     **KEYS}}, "test.toml")
    [server] = [s for s in buildService(config) if isinstance(s, IMAPServerService)]
    factory = server.factory
    assert factory.plaintextAuth == "never"
    assert [str(n) for n in factory.limits.trusted] == ["10.0.0.0/8"]
    assert (factory.limits.maxPerIP, factory.limits.maxUserIP) == (20, 50)
    assert factory.preloginTimeout == 30.0 and factory.authThreads.size == 4
    assert factory.credentials.ttl == 600.0
    names = factory.specialUseNames
    assert names.uses("outbox", (), "/") == ("\\Sent",) and names.uses("Sent", (), "/") == ()
    assert factory.notifyMaxMailboxes == 7


@pytest.mark.parametrize("key,value,message", [
    ("plaintext_auth", "sometimes", "server.plaintext_auth: 'sometimes': use \"loopback\""),
    ("trusted_networks", ["10.0.0.300/8"], "server.trusted_networks: '10.0.0.300/8' is not a"),
    ("max_userip_connections", -1, "server.max_userip_connections: must be at least 0"),
    ("auth_threads", 0, "server.auth_threads: must be at least 1"),
    ("notify_max_mailboxes", "many", "server.notify_max_mailboxes: expected an int"),
    ("prelogin_timeout", "soon", "server.prelogin_timeout: 'soon' is not a duration"),
    ("special_use", {"Old": "\\Old"}, "server.special_use.Old: '\\\\Old' is not a special use"),
    ("special_use", {"Old": 3}, "server.special_use.Old: expected a str, got int"),
])
def test_a_bad_value_is_one_line_naming_the_key(key, value, message):
    with pytest.raises(ConfigError) as e:
        serverConfig(**{key: value})
    assert str(e.value).startswith("test.toml: " + message) and "\n" not in str(e.value)
