"""
The C{[notifier]} table and its C{[[notifier.accounts]]}: frozen dataclasses, each error
one line naming the file and the key (e.g. C{notifier.accounts[0].password}).

What can be checked without connecting is checked here, so that C{idlemail check-config}
and a starting notifier say it at once: the server is an endpoint with a port, the
password file is readable, the password command's program is on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field

from twisted.internet import defer

from idlemail.client.endpoints import checkServer
from idlemail.client.protocol import DEFAULT_MAX_LITERAL
from idlemail.settings import Table
from idlemail.errors import ConfigError
from idlemail.notifier.password import readPasswordFile, runPasswordCommand
from idlemail.notifier.sinks import checkSink

# Words a shell runs itself: a password_command string starting with one has no program
# to look for on PATH.
_SHELL_WORDS = frozenset("""
    . : [ alias break cd command echo eval exec export printf read set test type ulimit
    umask unset if for while until case { ( ! time""".split())

_AUTH = ("login", "plain", "xoauth2")
MAX_REIDLE = 29 * 60.0  # RFC 2177: re-issue IDLE at least every 29 minutes


@dataclass(frozen=True)
class AccountConfig:
    name: str
    server: str
    username: str
    passwordValue: str | None = None
    passwordFile: str | None = None
    passwordCommand: tuple[str, ...] | str | None = None  # argv, or a /bin/sh command line
    plaintext: bool = False
    starttls: bool = False
    auth: str = "login"
    mailboxes: tuple[str, ...] = ("INBOX",)
    readonly: bool = True
    sinks: tuple = ()  # for every mailbox of the account
    mailboxSinks: dict = field(default_factory=dict)  # mailbox name -> its own sinks
    reidle: float = 600.0
    keepaliveTimeout: float = 300.0
    pollInterval: float = 60.0
    backoffMax: float = 300.0
    debounceWait: float = 0.0
    debounceMaxDelay: float = 5.0
    downAfter: float = 300.0
    maxLiteralSize: int = DEFAULT_MAX_LITERAL
    caFile: str | None = None
    insecureSkipVerify: bool = False
    path: str = ""
    key: str = ""

    def password(self, reactor=None) -> defer.Deferred:
        """The password (or XOAUTH2 token), read from its source now: a Deferred."""
        if self.passwordValue is not None:
            return defer.succeed(self.passwordValue)
        if self.passwordFile is not None:
            return defer.maybeDeferred(readPasswordFile, self.passwordFile,
                                       f"{self.path}: {self.key}.password_file")
        if reactor is None:
            from twisted.internet import reactor
        return defer.ensureDeferred(runPasswordCommand(
            reactor, self.passwordCommand, f"{self.path}: {self.key}.password_command"))

    def sinksFor(self, mailbox: str) -> tuple:
        """The account's sinks and the mailbox's own, in that order."""
        return self.sinks + self.mailboxSinks.get(mailbox, ())


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
    try:
        checkServer(server)
    except ValueError as e:
        raise t.error("server", str(e))
    username = t.get("username", str, required=True)
    sources = [k for k in ("password", "password_file", "password_command") if k in data]
    if len(sources) != 1:
        which = "none" if not sources else " and ".join(sources)
        raise ConfigError(f"{path}: {prefix}.password: give exactly one of password, "
                          f"password_file, password_command (got {which})")
    password = t.get("password", str)
    passwordFile = t.get("password_file", str)
    if passwordFile is not None:
        _checkReadable(t, "password_file", passwordFile)
    command = _passwordCommand(t)
    plaintext = t.get("plaintext", bool, False)
    starttls = t.get("starttls", bool, False)
    if server.startswith("tcp:") and not (starttls or plaintext):
        raise t.error("server", "a tcp: server sends the password in clear; set starttls = true "
                                "or, for a trusted network, plaintext = true")
    auth = t.get("auth", str, "login").lower()
    if auth not in _AUTH:
        raise t.error("auth", f"unknown mechanism {auth!r} (use one of: {', '.join(_AUTH)})")
    sinks = tuple(t.get("sinks", list, []))
    for i, spec in enumerate(sinks):
        checkSink(spec, path, f"{prefix}.sinks[{i}]")
    mailboxes, mailboxSinks = _mailboxes(t, path, prefix, bool(sinks))
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
    downAfter = t.duration("down_after", 300.0)
    maxLiteral = t.size("max_literal_size", DEFAULT_MAX_LITERAL)
    if maxLiteral < 64 * 1024:
        raise t.error("max_literal_size", "must be at least 64K (message headers come as "
                                          "literals)")
    debounce = t.table("debounce")
    wait = debounce.duration("wait", 0.0)
    maxDelay = debounce.duration("max_delay", 5.0)
    debounce.rejectUnknown()
    caFile = t.get("ca_file", str)
    if caFile is not None:
        _checkReadable(t, "ca_file", caFile)
    insecure = t.get("insecure_skip_verify", bool, False)
    readonly = t.get("readonly", bool, True)
    t.rejectUnknown()
    return AccountConfig(
        name=name, server=server, username=username, passwordValue=password,
        passwordFile=passwordFile, passwordCommand=command,
        plaintext=plaintext, starttls=starttls, auth=auth, mailboxes=mailboxes,
        readonly=readonly, sinks=sinks, mailboxSinks=mailboxSinks, reidle=reidle,
        keepaliveTimeout=keepalive, pollInterval=poll, backoffMax=backoffMax,
        debounceWait=wait, debounceMaxDelay=maxDelay, downAfter=downAfter,
        maxLiteralSize=maxLiteral, caFile=caFile, insecureSkipVerify=insecure, path=path,
        key=prefix)


def _checkReadable(t: Table, key: str, filename: str) -> None:
    if not os.path.isfile(filename):
        raise t.error(key, f"no such file: {filename}")
    if not os.access(filename, os.R_OK):
        raise t.error(key, f"not readable: {filename}")


def _passwordCommand(t: Table):
    """An argv list, or a shell command line (as goimapnotify's passwordCmd)."""
    command = t.get("password_command", (list, str))
    if command is None:
        return None
    if isinstance(command, str):
        if not command.strip():
            raise t.error("password_command", "is empty")
        try:
            words = shlex.split(command)
        except ValueError as e:
            raise t.error("password_command", f"not a valid shell command line: {e}")
        program = words[0] if words else ""
        if "=" in program or program in _SHELL_WORDS:
            return command  # an assignment or a builtin first: the shell will tell
        _checkProgram(t, program)
        return command
    if not command or not all(isinstance(c, str) and c for c in command):
        raise t.error("password_command", "expected a non-empty list of strings (argv) or "
                                          "a shell command line")
    _checkProgram(t, command[0])
    return tuple(command)


def _checkProgram(t: Table, program: str) -> None:
    if "/" in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise t.error("password_command", f"{program} is not an executable file")
    elif shutil.which(program) is None:
        raise t.error("password_command", f"{program!r} is not on PATH")


def _mailboxes(t: Table, path: str, prefix: str, accountHasSinks: bool):
    """C{["INBOX", {name = "Lists/python", sinks = [...]}]} -> names, per-mailbox sinks."""
    entries = t.get("mailboxes", list, ["INBOX"])
    if not entries:
        raise t.error("mailboxes", "needs at least one mailbox")
    names, own = [], {}
    for i, entry in enumerate(entries):
        key = f"{prefix}.mailboxes[{i}]"
        if isinstance(entry, str):
            name, sinks = entry, ()
        elif isinstance(entry, dict):
            box = Table(entry, key, path)
            name = box.get("name", str, required=True)
            sinks = tuple(box.get("sinks", list, []))
            for j, spec in enumerate(sinks):
                checkSink(spec, path, f"{key}.sinks[{j}]")
            box.rejectUnknown()
        else:
            raise ConfigError(f"{path}: {key}: expected a mailbox name or a table such as "
                              f"{{ name = \"INBOX\", sinks = [...] }}")
        if not name:
            raise ConfigError(f"{path}: {key}: the mailbox name is empty")
        if name in names:
            raise ConfigError(f"{path}: {key}: {name!r} is listed twice")
        if not sinks and not accountHasSinks:
            raise ConfigError(f"{path}: {prefix}.sinks: needs at least one sink for "
                              f"{name!r}, e.g. [{{ kind = \"jsonl\" }}]")
        names.append(name)
        if sinks:
            own[name] = sinks
    return tuple(names), own


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
