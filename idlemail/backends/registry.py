"""
Building the configured backend: the built-in ones by name, others from
L{idlemail.interfaces.IBackendFactory} plugins.
"""

from __future__ import annotations

from twisted.plugin import getPlugins

from idlemail.config import Table
from idlemail.errors import ConfigError
from idlemail.interfaces import IBackendFactory


def _memory(table: Table, reactor):
    from idlemail.backends.memory import MemoryBackend
    users = table.get("users", dict, {})
    for name, password in users.items():
        if not isinstance(password, str):
            raise table.error(f"users.{name}", "expected a password string")
    table.rejectUnknown()
    return MemoryBackend(users)


def _maildir(table: Table, reactor):
    from idlemail.backends.maildir.backend import MaildirBackend
    from idlemail.backends.maildir.pool import DEFAULT_THREADS
    from idlemail.config import DEFAULT_DATA
    root = table.get("root", str, DEFAULT_DATA)
    passwd = table.get("passwd_file", str, f"{root}/passwd")
    poll = table.duration("poll_interval", 2.0)
    threads = table.get("io_threads", int, DEFAULT_THREADS)
    if not 1 <= threads <= 64:
        raise table.error("io_threads", "expected a number of threads from 1 to 64")
    table.rejectUnknown()
    return MaildirBackend(root, passwd, reactor=reactor, pollInterval=poll,
                          ioThreads=threads)


_BUILTIN = {"memory": _memory, "maildir": _maildir}


def buildBackend(name: str, section: dict, path: str, reactor):
    table = Table(section, f"server.{name}", path)
    if name in _BUILTIN:
        return _BUILTIN[name](table, reactor)
    for factory in getPlugins(IBackendFactory):
        if factory.name == name:
            return factory.build(section, reactor)
    known = ", ".join(sorted(_BUILTIN))
    raise ConfigError(f"{path}: server.backend: unknown backend {name!r} (built in: {known})")
