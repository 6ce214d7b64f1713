"""
Reading config values: durations, sizes and L{Table}, a TOML table that remembers where it
is so that every error is one line naming the file and the key.

A leaf module (it imports nothing of idlemail but the errors), so that the server config,
the notifier config and the sinks can all use it without importing each other.
"""

from __future__ import annotations

import difflib
import re

from idlemail.errors import ConfigError

#: The embedded default's data directory (Maildir root, passwd-file, demo password).
DEFAULT_DATA = "./idlemail-data"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def parseDuration(value, key: str, path: str) -> float:
    """C{"30s"}, C{"10m"}, C{"1h"}, C{"250ms"} or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{_at(path)}{key}: expected a duration such as \"30s\" or \"2m\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(f"{_at(path)}{key}: {value!r} is not a duration "
                              f"(use e.g. \"30s\", \"2m\", \"1h\")")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise ConfigError(f"{_at(path)}{key}: must not be negative")
    return seconds


def parseSize(value, key: str, path: str) -> int:
    """C{"50M"}, C{"64KiB"} or a number of octets."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value)) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f"{_at(path)}{key}: {value!r} is not a size (use e.g. \"50M\")")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) * {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


def formatDuration(seconds: float) -> str:
    """The shortest text L{parseDuration} reads back as C{seconds}: C{"2m"}, C{"90s"}."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def formatSize(octets: int) -> str:
    """The shortest text L{parseSize} reads back as C{octets}: C{"50M"}."""
    for unit, size in (("G", 1024 ** 3), ("M", 1024 ** 2), ("K", 1024)):
        if octets % size == 0:
            return f"{octets // size}{unit}"
    return str(octets)


def didYouMean(name: str, known) -> str:
    """C{" (did you mean 'listen'?)"} when a known name is close to C{name}, else C{""}."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table:
    """
    A TOML table that remembers where it is, so errors can name the key.

    C{path} is the file; with C{path=""} errors name the key only (a backend plugin's
    section: the registry adds the file and the table).
    """

    def __init__(self, data: dict, prefix: str, path: str):
        self.data, self.prefix, self.path = data, prefix, path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, text: str) -> ConfigError:
        return ConfigError(f"{_at(self.path)}{self.key(name)}: {text}")

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
        """Refuse keys nobody asked for, suggesting the known key a typo was meant to be."""
        known = self.used | set(allowed)
        for name in self.data:
            if name not in known:
                raise self.error(name, "unknown key" + didYouMean(name, known))


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _article(names: str) -> str:
    return ("an " if names[0] in "aeiou" else "a ") + names
