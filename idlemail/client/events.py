"""
What a mailbox watcher reports, and what the notifier relays to its sinks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

MESSAGE_NEW = "message.new"
MESSAGE_EXPUNGED = "message.expunged"
FLAGS_CHANGED = "flags.changed"
UIDVALIDITY_RESET = "uidvalidity.reset"
ACCOUNT_UP = "account.up"
ACCOUNT_DOWN = "account.down"
ACCOUNT_AUTH_FAILED = "account.auth_failed"
EVENT_NAMES = (MESSAGE_NEW, MESSAGE_EXPUNGED, FLAGS_CHANGED, UIDVALIDITY_RESET, ACCOUNT_UP,
               ACCOUNT_DOWN, ACCOUNT_AUTH_FAILED)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class WatchEvent:
    """
    One change seen on a watched mailbox (or the account's connection).

    @ivar event: one of the names above, e.g. C{"message.new"}.
    @ivar headers: for message.new, the fetched C{from}, C{subject}, C{date},
        C{message-id} (lower-case keys, decoded text) when a sink asked for them.
    @ivar reason: for account.down / account.auth_failed, a line saying why.
    """

    event: str
    account: str
    mailbox: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    time: datetime = field(default_factory=_now)

    def asJSON(self) -> dict:
        """The event as a JSON-ready dict; keys with no value are left out."""
        out: dict = {"event": self.event, "account": self.account}
        for key in ("mailbox", "uidvalidity", "uid", "reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.flags is not None:
            out["flags"] = list(self.flags)
        for key, value in self.headers.items():
            out[key] = value
        out["time"] = self.time.isoformat()
        return out
