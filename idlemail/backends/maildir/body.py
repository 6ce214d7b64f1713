"""
A message read in pieces (L{idlemail.interfaces.IBodyStreams}): the file is opened,
read and closed in the backend's disk threads, bare LFs made CRLF on the fly (a CR
that ends one piece and the LF that starts the next are one line end), and exactly
C{size} octets come out, so that a FETCH never holds a large message whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.internet import defer
from twisted.logger import Logger

from idlemail.backends.maildir import disk

log = Logger()
READ_SIZE = 1 << 16


def openStream(folder: Path, where: tuple, knownSize: int | None):
    """
    In a disk thread: C{(fd, size, sizeWasCounted)} for the message at C{where}
    (base, subdir, name), or None if it is gone. A size from the name is checked
    against the file's octets; when it cannot be right, or is unknown, it is counted.
    """
    opened = disk.openMessage(folder, *where)
    if opened is None:
        return None
    fd = opened[0]
    try:
        raw = os.fstat(fd).st_size
        physical = disk.physicalSizeOf(where[0])
        plausible = (knownSize is not None and raw <= knownSize <= 2 * raw
                     and physical in (None, raw))
        if plausible:
            return fd, knownSize, False
        size = disk.countCrlfSize(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd, size, True
    except BaseException:
        os.close(fd)
        raise


class MessageStream:
    """
    C{size}, C{read(n)} and C{close()} over an open message file; reads (and the close)
    run one after another in the pool, whatever order they are asked in.
    """

    def __init__(self, pool, fd: int, size: int, path: Path):
        self.size = size
        self._pool, self._fd, self._path = pool, fd, path
        self._given = 0
        self._pending = b""
        self._lastCR = False
        self._eof = False
        self._warned = False
        self._tail = defer.succeed(None)

    def _serially(self, f, *args) -> defer.Deferred:
        out = defer.Deferred()

        def run(_):
            return self._pool.run(f, *args).addCallbacks(out.callback, out.errback)
        self._tail.addCallback(run)
        return out

    def read(self, n: int) -> defer.Deferred:
        """Deferred firing with up to C{n} octets, C{b""} at the end."""
        return self._serially(self._readInThread, max(1, n))

    def close(self) -> defer.Deferred:
        return self._serially(self._closeInThread)

    def _closeInThread(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _convert(self, raw: bytes) -> bytes:
        head = b""
        if self._lastCR and raw[:1] == b"\n":
            head, raw = b"\n", raw[1:]  # the CR went out with the previous piece
        self._lastCR = raw[-1:] == b"\r"
        return head + disk.crlf(raw)

    def _readInThread(self, n: int) -> bytes:
        left = self.size - self._given
        if self._fd is None or left <= 0:
            return b""
        while len(self._pending) < n and not self._eof:
            raw = os.read(self._fd, max(n, READ_SIZE))
            if not raw:
                self._eof = True
                break
            self._pending += self._convert(raw)
        piece, self._pending = self._pending[:min(n, left)], self._pending[min(n, left):]
        if self._pending and len(piece) == left:
            self._warn("longer")
            self._pending, self._eof = b"", True
        if not piece and self._eof:
            # The size promised (and maybe already sent as a literal's length) must be
            # kept, or the connection's framing breaks: pad, and say so.
            self._warn("shorter")
            piece = b" " * min(n, left)
        self._given += len(piece)
        return piece

    def _warn(self, how: str) -> None:
        if self._warned:
            return
        self._warned = True
        log.warn("{path}: the message is {how} than its size {size} (from its name or "
                 "counted before); sent as {size} octets", path=str(self._path), how=how,
                 size=self.size)
