"""
Logs for log shippers: C{twistd --logger idlemail.logs.json idlemail ...} writes one JSON
object per line on standard output (journald, Docker, Loki, Vector and friends read it as
it comes), e.g.::

  {"time": "2026-11-24T10:00:00.123+00:00", "level": "info", "namespace": "idlemail.tap",
   "text": "idlemail serving IMAP on ...", "banner": "idlemail serving IMAP on ..."}

Each object has C{time} (ISO 8601, UTC), C{level}, C{namespace}, C{text} (the message as the
plain log shows it), C{system} where Twisted names one (the connection), C{traceback} for a
failure, and the event's own fields (C{user}, C{remote}, ...), so that a shipper can filter
on them without parsing the text.
"""

from __future__ import annotations

import json as _json
import sys
from datetime import datetime, timezone

from twisted.logger import ILogObserver, formatEvent
from zope.interface import implementer

# Fields that twisted.python.log's bridge adds and that the keys above already carry.
_LEGACY = frozenset({"message", "system", "isError", "time", "format", "why", "failure",
                     "printed"})


def eventAsJSON(event: dict) -> str:
    """One log event as one line of JSON (no newline inside)."""
    record = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), timezone.utc)
                        .isoformat(timespec="milliseconds"),
        "level": getattr(event.get("log_level"), "name", "info"),
        "namespace": event.get("log_namespace", "-"),
        "text": formatEvent(event),
    }
    system = event.get("log_system")
    if system and system != "-":
        record["system"] = system
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if not key.startswith("log_") and key not in _LEGACY and key not in record:
            record[key] = value
    return _json.dumps(record, default=_text, ensure_ascii=False)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@implementer(ILogObserver)
class JSONLinesObserver:
    """Writes each event to C{stream} as one line of JSON."""

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, event: dict) -> None:
        self.stream.write(eventAsJSON(event) + "\n")
        self.stream.flush()


def json() -> JSONLinesObserver:
    """The observer factory for C{twistd --logger idlemail.logs.json}: JSON lines on stdout."""
    return JSONLinesObserver(sys.stdout)
