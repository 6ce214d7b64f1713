"""
The C{[notifier]} table and its C{[[notifier.accounts]]}: frozen dataclasses, each error
one line naming the file and the key (e.g. C{notifier.accounts[0].password}).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from idlemail.settings import Table
from idlemail.errors import ConfigError
from idlemail.notifier.sinks import checkSink

_AUTH = ("login", "plain", "xoauth2")
MAX_REIDLE = 29 * 60.0  # RFC 2177: re-issue IDLE at least every 29 minutes


@dataclass(frozen=True)
class AccountConfig:
    name: str
    server: str
    username: str
    passwordValue: str | None = None
    passwordFile: str | None = None
    passwordCommand: tuple[str, ...] | None = None
    plaintext: bool = False
    starttls: bool = False
    auth: str = "login"
    mailboxes: tuple[str, ...] = ("INBOX",)
    readonly: bool = True
    sinks: tuple = ()
    reidle: float = 600.0
    keepaliveTimeout: float = 300.0
    pollInterval: float = 60.0
    backoffMax: float = 300.0
    debounceWait: float = 0.0
    debounceMaxDelay: float = 5.0
    caFile: str | None = None
    insecureSkipVerify: bool = False
    path: str = ""
    key: str = ""

    def password(self) -> str:
        """The password (or XOAUTH2 token), read from its source now."""
        if self.passwordValue is not None:
            return self.passwordValue
        if self.passwordFile is not None:
            try:
                return Path(self.passwordFile).read_text().strip()
            except OSError as e:
                raise ConfigError(f"{self.path}: {self.key}.password_file: {e.strerror}: "
                                  f"{self.passwordFile}")
        try:
            done = subprocess.run(list(self.passwordCommand), capture_output=True, timeout=30,
                                  text=True)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ConfigError(f"{self.path}: {self.key}.password_command: {e}")
        if done.returncode != 0:
            raise ConfigError(f"{self.path}: {self.key}.password_command: exited with "
                              f"{done.returncode}: {done.stderr.strip()[:200]}")
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""


@dataclass(frozen=True)
class NotifierConfig:
    accounts: tuple[AccountConfig, ...]
    stateFile: str = "./idlemail-notifier-state.json"
    path: str = ""


def parseAccount(data, index: int, path: str) -> AccountConfig:
    prefix = f"notifier.accounts[{index}]"
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {prefix}: expected a table")
    t = Table(data, prefix, path)
    name = t.get("name", str, required=True)
    server = t.get("server", str, required=True)
    if ":" not in server:
        raise t.error("server", f"{server!r} is not an endpoint (use e.g. "
                                f"\"tls:imap.example.org:993\" or \"tcp:127.0.0.1:143\")")
    username = t.get("username", str, required=True)
    sources = [k for k in ("password", "password_file", "password_command") if k in data]
    if len(sources) != 1:
        which = "none" if not sources else " and ".join(sources)
        raise ConfigError(f"{path}: {prefix}.password: give exactly one of password, "
                          f"password_file, password_command (got {which})")
    password = t.get("password", str)
    passwordFile = t.get("password_file", str)
    command = t.get("password_command", list)
    if command is not None and (not command or not all(isinstance(c, str) for c in command)):
        raise t.error("password_command", "expected a non-empty list of strings (argv)")
    plaintext = t.get("plaintext", bool, False)
    starttls = t.get("starttls", bool, False)
    if server.startswith("tcp:") and not (starttls or plaintext):
        raise t.error("server", "a tcp: server sends the password in clear; set starttls = true "
                                "or, for a trusted network, plaintext = true")
    auth = t.get("auth", str, "login").lower()
    if auth not in _AUTH:
        raise t.error("auth", f"unknown mechanism {auth!r} (use one of: {', '.join(_AUTH)})")
    mailboxes = t.strings("mailboxes", ("INBOX",))
    if not mailboxes:
        raise t.error("mailboxes", "needs at least one mailbox")
    reidle = t.duration("reidle", 600.0)
    if not 0 < reidle <= MAX_REIDLE:
        raise t.error("reidle", "must be more than 0 and at most 29m (RFC 2177)")
    keepalive = t.duration("keepalive_timeout", 300.0)
    if keepalive < 1:
        raise t.error("keepalive_timeout", "must be at least 1s")
    poll = t.duration("poll_interval", 60.0)
    if poll < 1:
        raise t.error("poll_interval", "must be at least 1s")
    backoffMax = t.duration("backoff_max", 300.0)
    debounce = t.table("debounce")
    wait = debounce.duration("wait", 0.0)
    maxDelay = debounce.duration("max_delay", 5.0)
    debounce.rejectUnknown()
    sinks = t.get("sinks", list, [])
    if not sinks:
        raise t.error("sinks", "needs at least one sink, e.g. [{ kind = \"jsonl\" }]")
    for i, spec in enumerate(sinks):
        checkSink(spec, path, f"{prefix}.sinks[{i}]")
    caFile = t.get("ca_file", str)
    insecure = t.get("insecure_skip_verify", bool, False)
    readonly = t.get("readonly", bool, True)
    t.rejectUnknown()
    return AccountConfig(
        name=name, server=server, username=username, passwordValue=password,
        passwordFile=passwordFile, passwordCommand=tuple(command) if command else None,
        plaintext=plaintext, starttls=starttls, auth=auth, mailboxes=mailboxes,
        readonly=readonly, sinks=tuple(sinks), reidle=reidle, keepaliveTimeout=keepalive,
        pollInterval=poll, backoffMax=backoffMax, debounceWait=wait, debounceMaxDelay=maxDelay,
        caFile=caFile, insecureSkipVerify=insecure, path=path, key=prefix)


def parseNotifier(data: dict, path: str) -> NotifierConfig:
    t = Table(data, "notifier", path)
    stateFile = t.get("state_file", str, "./idlemail-notifier-state.json")
    accounts = t.get("accounts", list, [])
    t.rejectUnknown()
    if not accounts:
        raise ConfigError(f"{path}: notifier.accounts: needs at least one [[notifier.accounts]]")
    parsed = tuple(parseAccount(a, i, path) for i, a in enumerate(accounts))
    seen = set()
    for i, account in enumerate(parsed):
        if account.name in seen:
            raise ConfigError(f"{path}: notifier.accounts[{i}].name: {account.name!r} is used twice")
        seen.add(account.name)
    return NotifierConfig(parsed, stateFile, path)
