"""
Where a watcher left off, per (account, mailbox): UIDVALIDITY, the highest UID reported,
the UIDs known to exist (so that expunges made while disconnected are found by
comparison), and, where the server has CONDSTORE (RFC 7162), the highest MODSEQ seen (so
that flag changes made while disconnected are asked for). Persisted as one JSON file,
replaced atomically:

    {"version": 2, "cursors": {"home/INBOX": {"uidvalidity": 1700000000, "highest": 42,
                                              "uids": "1:40,42", "modseq": 917}}}

Version 1 files (no C{modseq}) load as they are; the first sync then records the MODSEQ.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from twisted.logger import Logger

log = Logger()


def compactUids(uids) -> str:
    """Ascending UIDs as an IMAP sequence set, C{"1:5,7,9:12"}."""
    out, start, prev = [], None, None
    for uid in sorted(uids):
        if start is None:
            start = prev = uid
        elif uid == prev + 1:
            prev = uid
        else:
            out.append(f"{start}:{prev}" if prev != start else f"{start}")
            start = prev = uid
    if start is not None:
        out.append(f"{start}:{prev}" if prev != start else f"{start}")
    return ",".join(out)


def expandUids(text: str) -> list[int]:
    uids: list[int] = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition(":")
        uids.extend(range(int(a), int(b or a) + 1))
    return uids


@dataclass
class Cursor:
    uidvalidity: int | None = None
    highest: int = 0
    uids: list[int] = field(default_factory=list)
    modseq: int | None = None


class CursorStore:
    """All cursors of one notifier; C{path} None keeps them in memory only."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._cursors: dict[str, Cursor] = {}
        if self.path is not None and self.path.exists():
            self._load()

    @staticmethod
    def key(account: str, mailbox: str) -> str:
        return f"{account}/{mailbox}"

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            for key, value in data.get("cursors", {}).items():
                modseq = value.get("modseq")
                self._cursors[key] = Cursor(value.get("uidvalidity"), int(value.get("highest", 0)),
                                            expandUids(value.get("uids", "")),
                                            int(modseq) if modseq is not None else None)
        except (OSError, ValueError, AttributeError, TypeError) as e:
            # A damaged state file costs a re-sync, never a crash or a flood: the watcher
            # starts from the mailbox's current end.
            log.warn("Ignoring unreadable notifier state {path}: {error}", path=str(self.path),
                     error=e)
            self._cursors = {}

    def get(self, account: str, mailbox: str) -> Cursor | None:
        return self._cursors.get(self.key(account, mailbox))

    def put(self, account: str, mailbox: str, cursor: Cursor) -> None:
        self._cursors[self.key(account, mailbox)] = cursor
        self.save()

    @staticmethod
    def _entry(c: Cursor) -> dict:
        entry = {"uidvalidity": c.uidvalidity, "highest": c.highest, "uids": compactUids(c.uids)}
        if c.modseq is not None:
            entry["modseq"] = c.modseq
        return entry

    def save(self) -> None:
        if self.path is None:
            return
        data = {"version": 2, "cursors": {key: self._entry(c) for key, c in self._cursors.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".idlemail-state-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
