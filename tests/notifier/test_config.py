import os
import tomllib

import pytest
import pytest_twisted

from idlemail.config import parseConfig
from idlemail.errors import ConfigError

GOOD = """
[[notifier.accounts]]
name = "home"
server = "tcp:127.0.0.1:11143"
plaintext = true
username = "bob"
password = "bobpw"
mailboxes = ["INBOX"]
sinks = [{ kind = "jsonl", path = "events.jsonl" }, { kind = "exec", argv = ["./on-mail.sh"] }]
"""

DESIGN_EXAMPLE = """
[[notifier.accounts]]
name = "work"
server = "tls:imap.example.org:993"
username = "me"
password_command = ["pass", "show", "mail/work"]
mailboxes = ["INBOX", "Lists/python"]
sinks = [{ kind = "exec", argv = ["notify-send", "mail"] }]
"""


def parse(text):
    return parseConfig(tomllib.loads(text), "cfg.toml")


@pytest.fixture
def passOnPath(tmp_path, monkeypatch):
    """A stand-in for pass(1) on PATH, as the design's example names it."""
    program = tmp_path / "bin" / "pass"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho secret-from-pass\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")


@pytest_twisted.ensureDeferred
async def test_the_documented_shapes_parse(passOnPath):
    home = parse(GOOD).notifier.accounts[0]
    assert (home.name, home.username, await home.password(), home.plaintext) == (
        "home", "bob", "bobpw", True)
    assert home.mailboxes == ("INBOX",) and len(home.sinks) == 2
    work = parse(DESIGN_EXAMPLE).notifier.accounts[0]
    assert work.passwordCommand == ("pass", "show", "mail/work")
    assert work.mailboxes == ("INBOX", "Lists/python") and work.reidle == 600


@pytest_twisted.ensureDeferred
async def test_password_file_and_command_are_read_when_used(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("frompfile\n")
    account = parse(GOOD.replace('password = "bobpw"', f'password_file = "{secret}"')).notifier.accounts[0]
    assert await account.password() == "frompfile"
    account = parse(GOOD.replace('password = "bobpw"',
                                 'password_command = ["echo", "fromcmd"]')).notifier.accounts[0]
    assert await account.password() == "fromcmd"
    failing = parse(GOOD.replace('password = "bobpw"', 'password_command = ["false"]'))
    with pytest.raises(ConfigError, match=r"notifier.accounts\[0\].password_command: exited"):
        await failing.notifier.accounts[0].password()


@pytest.mark.parametrize("change, key", [
    (('username = "bob"\n', ""), "notifier.accounts[0].username: is required"),
    (('password = "bobpw"', 'password = "x"\npassword_file = "f"'), "notifier.accounts[0].password: give exactly one"),
    (("plaintext = true\n", ""), "notifier.accounts[0].server: a tcp: server sends the password in clear"),
    (('mailboxes', 'reidle = "30m"\nmailboxes'), "notifier.accounts[0].reidle"),
    (('kind = "jsonl"', 'kind = "fax"'), "notifier.accounts[0].sinks[0].kind: unknown sink kind"),
    (('name = "home"', 'name = "home"\ncolour = "red"'), "notifier.accounts[0].colour: unknown key"),
    (('keepalive', 'keepalive'), None),
])
def test_config_errors_name_the_key(change, key):
    text = GOOD.replace(*change)
    if key is None:
        parse(text)
        return
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert str(e.value).startswith("cfg.toml: ") and key in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_account_names_are_refused():
    with pytest.raises(ConfigError, match=r"accounts\[1\].name: 'home' is used twice"):
        parse(GOOD + GOOD)


@pytest.mark.parametrize("change, message", [
    (('server = "tcp:127.0.0.1:11143"', 'server = "tcp:127.0.0.1"'),
     "notifier.accounts[0].server: 'tcp:127.0.0.1' has no port"),
    (('server = "tcp:127.0.0.1:11143"', 'server = "tls:imap.example.org:imaps"'),
     "notifier.accounts[0].server: 'tls:imap.example.org:imaps': port 'imaps' is not a number"),
    (('server = "tcp:127.0.0.1:11143"', 'server = "imap.example.org"'),
     "notifier.accounts[0].server: 'imap.example.org' is not an endpoint"),
    (('server = "tcp:127.0.0.1:11143"', 'server = "tcp:127.0.0.1:11143:tiemout=5"'),
     "notifier.accounts[0].server: 'tcp:127.0.0.1:11143:tiemout=5': unknown option 'tiemout'"),
    (('password = "bobpw"', 'password_file = "/nonexistent/secret"'),
     "notifier.accounts[0].password_file: no such file: /nonexistent/secret"),
    (('password = "bobpw"', 'password_command = ["no-such-password-tool", "show"]'),
     "notifier.accounts[0].password_command: 'no-such-password-tool' is not on PATH"),
    (('password = "bobpw"', 'password_command = "no-such-password-tool show | head -1"'),
     "notifier.accounts[0].password_command: 'no-such-password-tool' is not on PATH"),
    (('password = "bobpw"', 'password_command = ["/nonexistent/bin/pass"]'),
     "notifier.accounts[0].password_command: /nonexistent/bin/pass is not an executable file"),
    (('name = "home"', 'name = "home"\ndown_after = "soon"'),
     "notifier.accounts[0].down_after: 'soon' is not a duration"),
    (('name = "home"', 'name = "home"\nmax_literal_size = "1K"'),
     "notifier.accounts[0].max_literal_size: must be at least 64K"),
])
def test_what_cannot_work_is_found_at_load_time(change, message):
    with pytest.raises(ConfigError) as e:
        parse(GOOD.replace(*change))
    assert str(e.value).startswith("cfg.toml: " + message), str(e.value)
    assert "\n" not in str(e.value)


def test_check_config_reports_a_missing_password_file(tmp_path, capsys):
    from idlemail.cli import main
    path = tmp_path / "notifier.toml"
    path.write_text(GOOD.replace('password = "bobpw"', 'password_file = "/nonexistent/secret"'))
    assert main(["check-config", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.strip() == (f"idlemail: {path}: notifier.accounts[0].password_file: "
                           f"no such file: /nonexistent/secret")


def test_new_account_keys_have_defaults_and_parse():
    home = parse(GOOD).notifier.accounts[0]
    assert home.downAfter == 300 and home.maxLiteralSize == 64 * 1024 * 1024
    tuned = parse(GOOD.replace('name = "home"', 'name = "home"\ndown_after = "2m"\n'
                                                'max_literal_size = "16M"')).notifier.accounts[0]
    assert tuned.downAfter == 120 and tuned.maxLiteralSize == 16 * 1024 * 1024
