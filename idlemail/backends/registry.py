"""
Finding and building the configured backend. Built-in and third-party backends are found
the same way: each is an L{IBackendFactory} provider, the built-in ones listed here and the
others found as Twisted plugins (C{twisted/plugins/*.py} of any installed package).

A factory's C{build(section, reactor)} raises L{ConfigError} naming the key relative to its
section (C{"users.alice: expected a password string"}); the registry adds the file and the
table (C{"idlemail.toml: server.memory.users.alice: ..."}).
"""

from __future__ import annotations

from twisted.plugin import IPlugin, getPlugins
from zope.interface import implementer

from idlemail.errors import ConfigError
from idlemail.interfaces import IBackendFactory
from idlemail.settings import DEFAULT_DATA, Table, didYouMean


@implementer(IPlugin, IBackendFactory)
class MemoryBackendFactory:
    """C{[server.memory] users = { alice = "pw" }}: mailboxes in memory, for tests and demos."""

    name = "memory"

    def settings(self, section: dict) -> dict:
        table = Table(section, "", "")
        users = table.get("users", dict, {})
        for user, password in users.items():
            if not isinstance(password, str):
                raise table.error(f"users.{user}", "expected a password string")
        table.rejectUnknown()
        return {"users": users}

    def build(self, section: dict, reactor):
        from idlemail.backends.memory import MemoryBackend
        return MemoryBackend(self.settings(section)["users"])


@implementer(IPlugin, IBackendFactory)
class MaildirBackendFactory:
    """C{[server.maildir]}: Dovecot-compatible Maildir++ under C{root}, users in a passwd-file."""

    name = "maildir"

    def settings(self, section: dict) -> dict:
        from idlemail.backends.maildir.pool import DEFAULT_THREADS
        from idlemail.backends.maildir.watch import MODES as WATCH_MODES
        table = Table(section, "", "")
        root = table.get("root", str, DEFAULT_DATA)
        settings = {"root": root, "passwd_file": table.get("passwd_file", str, f"{root}/passwd"),
                    "poll_interval": table.duration("poll_interval", 2.0),
                    "io_threads": table.get("io_threads", int, DEFAULT_THREADS),
                    "watch": table.get("watch", str, "inotify")}
        if not 1 <= settings["io_threads"] <= 64:
            raise table.error("io_threads", "expected a number of disk threads from 1 to 64")
        if settings["watch"] not in WATCH_MODES:
            raise table.error("watch", f"{settings['watch']!r}: use \"inotify\", \"poll\" or "
                                       "\"none\" (none: the change bus alone, for storage "
                                       "shared between hosts)")
        table.rejectUnknown()
        return settings

    def build(self, section: dict, reactor):
        from idlemail.backends.maildir.backend import MaildirBackend
        s = self.settings(section)
        return MaildirBackend(s["root"], s["passwd_file"], reactor=reactor,
                              pollInterval=s["poll_interval"], ioThreads=s["io_threads"],
                              watch=s["watch"])


@implementer(IPlugin, IBackendFactory)
class RemoteBackendFactory:
    """C{[server.remote] upstream = "tls:HOST:993"}: a push proxy in front of an IMAP server."""

    name = "remote"

    def settings(self, section: dict) -> dict:
        from idlemail.backends.remote.settings import parseRemote, settingsAsDict
        return settingsAsDict(parseRemote(section))

    def build(self, section: dict, reactor):
        from idlemail.backends.remote.backend import RemoteBackend
        from idlemail.backends.remote.settings import parseRemote
        return RemoteBackend(parseRemote(section), reactor)


BUILT_IN = (MaildirBackendFactory(), MemoryBackendFactory(), RemoteBackendFactory())


def backendFactories() -> list:
    """Every L{IBackendFactory}: the built-in ones first, then the plugins'."""
    return [*BUILT_IN, *getPlugins(IBackendFactory)]


def _factory(name: str, path: str):
    factories = backendFactories()
    for factory in factories:
        if factory.name == name:
            return factory
    known = sorted({f.name for f in factories})
    raise ConfigError(f"{path}: server.backend: unknown backend {name!r}"
                      + (didYouMean(name, known) or f" (known: {', '.join(known)})"))


def _inSection(name: str, path: str, error: ConfigError) -> ConfigError:
    return ConfigError(f"{path}: server.{name}.{error}")


def buildBackend(name: str, section: dict, path: str, reactor):
    """The backend C{backend = name} names, from its section; one-line L{ConfigError}s."""
    factory = _factory(name, path)
    try:
        return factory.build(section, reactor)
    except ConfigError as e:
        raise _inSection(name, path, e) from None


def effectiveSection(name: str, section: dict, path: str) -> dict:
    """The backend's section with its defaults filled in (for C{check-config --print})."""
    factory = _factory(name, path)
    if not hasattr(factory, "settings"):
        return dict(section)
    try:
        return factory.settings(section)
    except ConfigError as e:
        raise _inSection(name, path, e) from None
