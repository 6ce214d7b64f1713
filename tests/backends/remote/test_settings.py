"""
C{backend = "remote"} from a config file: each mistake one line naming the key; the
defaults as C{check-config --print} shows them; and twistd serving Dovecot's mail through
the proxy.
"""

from __future__ import annotations

import imaplib
import tomllib

import pytest

from idlemail.backends.registry import buildBackend, effectiveSection
from idlemail.backends.remote.backend import RemoteBackend
from idlemail.errors import ConfigError
from tests.test_cli import cli
from tests.test_plugin import freePort, stop, twistd, waitForPort


@pytest.mark.parametrize("section,line", [
    ({}, "server.remote.upstream: is required"),
    ({"upstream": "imap.example.org"}, "server.remote.upstream: 'imap.example.org' is not an "
                                       "endpoint"),
    ({"upstream": "tls:imap.example.org"}, "server.remote.upstream: 'tls:imap.example.org' has "
                                           "no port"),
    ({"upstream": "tcp:imap.example.org:143"}, "server.remote.upstream: a tcp: upstream would "
                                               "get passwords in clear"),
    ({"upstream": "tls:h:993", "auth": "cached"}, "server.remote.auth: unknown mode 'cached'"),
    ({"upstream": "tls:h:993", "ca_file": "/nonexistent.pem"}, "server.remote.ca_file: not a "
                                                               "readable file"),
    ({"upstream": "tls:h:993", "max_connections": 0}, "server.remote.max_connections: must be "
                                                      "at least 1"),
    ({"upstream": "tls:h:993", "keep_connections": 9}, "server.remote.keep_connections: must "
                                                       "be from 0 to max_connections"),
    ({"upstream": "tls:h:993", "reidle": "40m"}, "server.remote.reidle: must be at most 29m"),
    ({"upstream": "tls:h:993", "poll_interval": "soon"}, "server.remote.poll_interval: 'soon' "
                                                         "is not a duration"),
    ({"upstream": "tls:h:993", "upsteam": "x"}, "server.remote.upsteam: unknown key (did you "
                                                "mean 'upstream'?)"),
])
def test_a_mistake_is_one_line_naming_the_key(section, line):
    with pytest.raises(ConfigError) as e:
        buildBackend("remote", section, "idlemail.toml", None)
    assert str(e.value).startswith("idlemail.toml: " + line)
    assert "\n" not in str(e.value)


def test_the_defaults_verify_tls_and_pass_logins_through():
    backend = buildBackend("remote", {"upstream": "tls:imap.example.org:993"}, "f", None)
    assert isinstance(backend, RemoteBackend)
    s = backend.settings
    assert (s.upstream, s.starttls, s.plaintext, s.insecureSkipVerify, s.auth) == (
        "tls:imap.example.org:993", False, False, False, "passthrough")
    shown = effectiveSection("remote", {"upstream": "tcp:h:143", "starttls": True}, "f")
    assert shown["starttls"] is True and shown["max_connections"] == 4
    assert shown["keep_connections"] == 1 and shown["poll_interval"] == "30s"


def test_check_config_print_shows_the_remote_table(tmp_path):
    (tmp_path / "idlemail.toml").write_text(
        '[server]\nbackend = "remote"\n[server.remote]\nupstream = "tls:imap.example.org:993"\n')
    done = cli("check-config", "--print", "--config", "idlemail.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    remote = tomllib.loads(done.stdout)["server"]["remote"]
    assert remote["upstream"] == "tls:imap.example.org:993" and remote["auth"] == "passthrough"


def test_twistd_serves_an_upstream_dovecot_through_the_proxy(tmp_path, dovecot):
    port = freePort()
    (tmp_path / "idlemail.toml").write_text(f"""
[server]
listen = ["tcp:{port}:interface=127.0.0.1"]
backend = "remote"
[server.remote]
upstream = "tcp:127.0.0.1:{dovecot.port}"
plaintext = true
""")
    proc = twistd(tmp_path, "--config", "idlemail.toml")
    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("bob", "bobpw")
        m.append("INBOX", None, None, b"Subject: through\r\n\r\nthe proxy\r\n")
        assert m.select("INBOX") == ("OK", [b"1"])
        assert m.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")[1][0][1] == \
            b"Subject: through\r\n\r\n"
        m.logout()
    finally:
        log = stop(proc)
    assert b"(remote backend)" in log
