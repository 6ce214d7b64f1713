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
from twisted.python.failure import Failure

from idlemail.backends.maildir import disk

log = Logger()
READ_SIZE = 1 << 16


def openStream(folder: Path, where: tuple, knownSize: int | None):
    """
    In a disk thread: C{(fd, size, sizeWasCounted, head)} for the message at C{where}
    (base, subdir, name), or None if it is gone. A size from the name is checked
    against the file's octets; when it cannot be right, or is unknown, it is counted.
    C{head}: the file's first L{READ_SIZE} octets, read now (so that a small message
    costs one trip to the disk threads); C{fd} is None when that was all of it (closed).
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
            size, counted = knownSize, False
        else:
            size, counted = disk.countCrlfSize(fd), True
            os.lseek(fd, 0, os.SEEK_SET)
        chunks, got = [], 0
        while got < READ_SIZE:
            chunk = os.read(fd, READ_SIZE - got)
            if not chunk:
                os.close(fd)
                return None, size, counted, b"".join(chunks)
            chunks.append(chunk)
            got += len(chunk)
        return fd, size, counted, b"".join(chunks)
    except BaseException:
        os.close(fd)
        raise


class MessageStream:
    """
    C{size}, C{read(n)} and C{close()} over an open message file; reads (and the close)
    run one after another in the pool, whatever order they are asked in; a read that
    what was read already can serve (a small message, read whole at open) is answered
    at once.
    """

    def __init__(self, pool, fd: int | None, size: int, path: Path, head: bytes = b""):
        self.size = size
        self._pool, self._fd, self._path = pool, fd, path
        self._given = 0
        self._lastCR = False
        self._pending = self._convert(head)
        self._eof = fd is None
        self._closed = False
        self._warned = False
        self._tail = defer.succeed(None)
        self._queued = 0  # reads and closes asked of the pool, not done yet

    def _serially(self, f, *args) -> defer.Deferred:
        out = defer.Deferred()
        self._queued += 1

        def run(_):
            return self._pool.run(f, *args).addBoth(done)

        def done(result):
            self._queued -= 1
            if isinstance(result, Failure):
                out.errback(result)
            else:
                out.callback(result)
        self._tail.addCallback(run)
        return out

    def read(self, n: int) -> defer.Deferred:
        """Deferred firing with up to C{n} octets, C{b""} at the end."""
        n = max(1, n)
        left = self.size - self._given
        if not self._queued and (self._closed or left <= 0 or self._eof
                                 or len(self._pending) >= min(n, left)):
            return defer.succeed(self._take(n))
        return self._serially(self._readInThread, n)

    def close(self) -> defer.Deferred:
        if self._fd is None and not self._queued:
            self._closed = True
            return defer.succeed(None)
        return self._serially(self._closeInThread)

    def _closeInThread(self) -> None:
        self._closed = True
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
        while not self._closed and left > 0 and len(self._pending) < n and not self._eof:
            raw = os.read(self._fd, max(n, READ_SIZE))
            if not raw:
                self._eof = True
                break
            self._pending += self._convert(raw)
        return self._take(n)

    def _take(self, n: int) -> bytes:
        """The next piece from what was read (the reactor's, or the thread's whose turn
        it is)."""
        left = self.size - self._given
        if self._closed or left <= 0:
            return b""
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
