"""
A message read from upstream in pieces (L{idlemail.interfaces.IBodyStreams}): each read is
one upstream partial fetch, C{BODY.PEEK[]<offset.length>}, so a FETCH of a large message
holds one piece of it at a time, never the whole. The first piece comes with the size, when
the stream is opened: a message no larger than a piece is whole before its size is told,
and one expunged upstream meanwhile is found gone before, not halfway through its literal.
"""

from __future__ import annotations

from twisted.internet import defer

from idlemail.wire.message import Section

_WHOLE = Section()


class UpstreamBody:
    """
    @ivar size: the message's octets as the upstream counts them (RFC822.SIZE, CRLF line
        ends), which is what its partial fetches count.
    """

    def __init__(self, mailbox, uid: int, size: int, chunk: int, head: bytes = b""):
        self.mailbox, self.uid, self.size, self.chunk = mailbox, uid, size, chunk
        self.head = head  # the first octets, read when the stream was opened
        self.offset = 0
        self.closed = False

    def read(self, n: int) -> defer.Deferred:
        """Up to C{n} octets (at most one chunk) from where the last read ended; b"" at
        the end, or if the message is gone meanwhile."""
        left = self.size - self.offset
        if self.closed or left <= 0:
            return defer.succeed(b"")
        if self.offset < len(self.head):
            return defer.succeed(self._got(self.head[self.offset:self.offset + min(n, left)]))
        want = max(1, min(n, left, self.chunk))
        d = self.mailbox.bodyPart(self.uid, _WHOLE, (self.offset, want))
        d.addCallback(self._got)
        return d

    def _got(self, data: bytes | None) -> bytes:
        data = data or b""
        self.offset += len(data)
        return data

    def close(self) -> None:
        self.closed = True
