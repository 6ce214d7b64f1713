"""
The config file (TOML) -> frozen dataclasses. Every error is a L{ConfigError} whose
text is one line naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from idlemail.errors import ConfigError

DEFAULT_LISTEN = ("tcp:1143:interface=127.0.0.1",)
DEFAULT_DATA = "./idlemail-data"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def parseDuration(value, key: str, path: str) -> float:
    """C{"30s"}, C{"10m"}, C{"1h"}, C{"250ms"} or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{path}: {key}: expected a duration such as \"30s\" or \"2m\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(f"{path}: {key}: {value!r} is not a duration "
                              f"(use e.g. \"30s\", \"2m\", \"1h\")")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise ConfigError(f"{path}: {key}: must not be negative")
    return seconds


def parseSize(value, key: str, path: str) -> int:
    """C{"50M"}, C{"64KiB"} or a number of octets."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f"{path}: {key}: {value!r} is not a size (use e.g. \"50M\")")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) * {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


class Table:
    """A TOML table that remembers where it is, so errors can name the key."""

    def __init__(self, data: dict, prefix: str, path: str):
        self.data, self.prefix, self.path = data, prefix, path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, text: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.key(name)}: {text}")

    def get(self, name: str, kind, default=None, required: bool = False):
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to Python; a flag is never a number here.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(name, f"expected {_article(names)}, got {type(value).__name__}")
        return value

    def strings(self, name: str, default=()) -> tuple[str, ...]:
        value = self.get(name, list, list(default))
        if not all(isinstance(v, str) for v in value):
            raise self.error(name, "expected a list of strings")
        return tuple(value)

    def duration(self, name: str, default: float) -> float:
        self.used.add(name)
        return parseDuration(self.data[name], self.key(name), self.path) if name in self.data else default

    def size(self, name: str, default: int) -> int:
        self.used.add(name)
        return parseSize(self.data[name], self.key(name), self.path) if name in self.data else default

    def table(self, name: str) -> Table:
        value = self.get(name, dict, {})
        return Table(value, self.key(name), self.path)

    def rejectUnknown(self, allowed=()) -> None:
        for name in self.data:
            if name not in self.used and name not in allowed:
                raise self.error(name, "unknown key")


def _article(names: str) -> str:
    return ("an " if names[0] in "aeiou" else "a ") + names


@dataclass(frozen=True)
class ServerConfig:
    listen: tuple[str, ...] = DEFAULT_LISTEN
    backend: str = "maildir"
    backendSection: dict = field(default_factory=dict)
    idleKeepalive: float = 120.0
    autologout: float = 30 * 60.0
    appendLimit: int = 50 * 1024 * 1024
    tlsCertificate: str | None = None
    tlsKey: str | None = None


@dataclass(frozen=True)
class Config:
    path: str
    server: ServerConfig | None = None
    notifier: object | None = None  # idlemail.notifier.config.NotifierConfig


def parseServer(data: dict, path: str) -> ServerConfig:
    t = Table(data, "server", path)
    listen = t.strings("listen", DEFAULT_LISTEN)
    if not listen:
        raise t.error("listen", "needs at least one endpoint, e.g. \"tcp:1143:interface=127.0.0.1\"")
    backend = t.get("backend", str, "maildir")
    section = t.get(backend, dict, {}) if backend in data else {}
    keepalive = t.duration("idle_keepalive", 120.0)
    autologout = t.duration("autologout", 30 * 60.0)
    if autologout < 30 * 60:
        raise t.error("autologout", "must be at least 30m (RFC 3501 section 5.4)")
    cert = t.get("tls_certificate", str)
    key = t.get("tls_key", str, cert)
    config = ServerConfig(listen, backend, dict(section), keepalive, autologout,
                          t.size("append_limit", 50 * 1024 * 1024), cert, key)
    t.rejectUnknown(allowed={backend})
    return config


def loadConfig(path: str | Path) -> Config:
    """Read and check a config file; raise L{ConfigError} with one line on any problem."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}")
    return parseConfig(data, path)


def parseConfig(data: dict, path: str) -> Config:
    top = Table(data, "", path)
    server = parseServer(top.get("server", dict), path) if "server" in data else None
    notifier = None
    if "notifier" in data:
        from idlemail.notifier.config import parseNotifier
        notifier = parseNotifier(top.get("notifier", dict), path)
    top.rejectUnknown()
    if server is None and notifier is None:
        raise ConfigError(f"{path}: needs a [server] or a [notifier] table (or both)")
    return Config(path, server, notifier)
