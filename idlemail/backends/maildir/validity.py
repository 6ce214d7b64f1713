"""
UIDVALIDITY values for one user's folders, never reused (RFC 3501 2.3.1.1).

The clock alone is not enough: a folder deleted and created again in the same second
would get its old value, and UID 1 would name two different messages. As Dovecot does,
the highest value handed out is kept in C{dovecot-uidvalidity} in the Maildir root (hex),
and the next is the greater of the clock and that plus one.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from twisted.logger import Logger

log = Logger()
FILENAME = "dovecot-uidvalidity"


def nextUidValidity(maildir: Path, atLeast: int = 1) -> int:
    """Allocate a new UIDVALIDITY for a folder of the Maildir at C{maildir}."""
    path = maildir / FILENAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        # Processes sharing the Maildir (workers, Dovecot) take turns.
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 64).strip()
        try:
            last = int(raw, 16) if raw else 0
        except ValueError:
            log.warn("{path}: unreadable ({raw!r}); starting from the clock",
                     path=str(path), raw=raw[:20])
            last = 0
        value = max(int(time.time()), last + 1, atLeast)
        value = min(value, 0xFFFFFFFF)  # nz-number: 32 bits (RFC 3501 9)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, b"%08x" % value)
        return value
    finally:
        os.close(fd)
