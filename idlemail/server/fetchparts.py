"""
FETCH items a backend serves without the server reading the whole message: body sections
and partial fetches (L{IPartialBodies}, e.g. fetched as such from an upstream), and whole
bodies read in pieces (L{IBodyStreams}) that go to the client as they come, the transport
pausing the reads when the client is slower than the backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.interfaces import IBodyStreams, IPartialBodies
from idlemail.server.registry import LOGOUT
from idlemail.wire.encode import literal
from idlemail.wire.message import Section

STREAM_CHUNK = 256 * 1024
_WHOLE = Section()
# Items that are one section of the message (RFC 3501 6.4.5): RFC822.HEADER is
# BODY.PEEK[HEADER], RFC822.TEXT is BODY[TEXT], RFC822 is BODY[].
_SECTIONS = {"RFC822": _WHOLE, "RFC822.HEADER": Section(text="HEADER"),
             "RFC822.TEXT": Section(text="TEXT")}
log = Logger()


def _whole(att) -> bool:
    return att.name == "RFC822" or (att.name == "BODY[]" and att.section == _WHOLE
                                    and att.partial is None)


def servedApart(att, mailbox) -> bool:
    """True if the backend serves C{att} itself (no whole message for the server)."""
    if _whole(att) and IBodyStreams.providedBy(mailbox):
        return True
    return (att.name == "BODY[]" or att.name in _SECTIONS) and \
        IPartialBodies.providedBy(mailbox)


def headerSuffices(atts, apart, mailbox) -> bool:
    """True if ENVELOPE is the only item left that needs the message, and the backend
    can give its header alone: that will do."""
    if not IPartialBodies.providedBy(mailbox):
        return False
    needing = [a.name for a in atts if a not in apart and a.name in
               ("ENVELOPE", "BODYSTRUCTURE", "BODY", "BODY[]", "RFC822", "RFC822.HEADER",
                "RFC822.TEXT")]
    return bool(needing) and all(name == "ENVELOPE" for name in needing)


@dataclass(frozen=True)
class Streamed:
    """A literal whose octets come from a body stream while the response is written."""

    label: bytes
    body: object


async def renderApart(att, mailbox, uid: int, label: bytes):
    """The item for C{att} (bytes, or a L{Streamed}); None if the message is gone.
    C{label} is the item's name in the response (C{BODY[...]<n>}) for BODY[] items."""
    if att.name != "BODY[]":
        label = att.name.encode()
    if _whole(att) and IBodyStreams.providedBy(mailbox):
        body = await mailbox.openBody(uid)
        return None if body is None else Streamed(label, body)
    section = att.section if att.name == "BODY[]" else _SECTIONS[att.name]
    data = await mailbox.bodyPart(uid, section, att.partial)
    return None if data is None else label + b" " + literal(data)


async def writeFetch(session, seq: int, items: list) -> bool:
    """C{* seq FETCH (items)}; a L{Streamed} item's octets are copied as they are read.
    False if the connection went away or was closed mid-literal: nothing more to say."""
    if not any(isinstance(item, Streamed) for item in items):
        session.untagged(b"%d FETCH (%s)" % (seq, b" ".join(items)))
        return True
    transport = session.transport
    pending = b"* %d FETCH (" % seq
    for i, item in enumerate(items):
        separator = b" " if i else b""
        if isinstance(item, Streamed):
            transport.write(pending + separator + item.label + b" {%d}\r\n" % item.body.size)
            pending = b""
            if not await _copy(session, item.body):
                return False
        else:
            pending += separator + item
    transport.write(pending + b")\r\n")
    return True


async def _copy(session, body) -> bool:
    transport, left = session.transport, body.size
    throttle = _Throttle(transport)
    try:
        while left > 0 and session.state != LOGOUT:
            await throttle.ready()
            chunk = await body.read(min(left, STREAM_CHUNK))
            if not chunk:
                break
            chunk = chunk[:left]
            transport.write(chunk)
            left -= len(chunk)
    finally:
        body.close()
        throttle.done()
    if left and session.state != LOGOUT:
        # The message shrank or vanished mid-way: the announced literal cannot be
        # finished honestly, and anything else would be read as its octets.
        log.warn("A streamed message ended {left} octets early; closing the connection",
                 left=left)
        transport.abortConnection()
        return False
    return session.state != LOGOUT


@implementer(IPushProducer)
class _Throttle:
    """Pauses the copy while the transport's buffer is full (Twisted calls
    C{pauseProducing} then, and C{resumeProducing} once it drained)."""

    def __init__(self, transport):
        self.transport = transport
        self._paused: defer.Deferred | None = None
        self._registered = getattr(transport, "producer", None) is None
        if self._registered:
            transport.registerProducer(self, True)

    def ready(self) -> defer.Deferred:
        return self._paused if self._paused is not None else defer.succeed(None)

    def pauseProducing(self) -> None:
        if self._paused is None:
            self._paused = defer.Deferred()

    def resumeProducing(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.callback(None)

    def stopProducing(self) -> None:
        self.resumeProducing()

    def done(self) -> None:
        self.resumeProducing()
        if self._registered and getattr(self.transport, "producer", None) is self:
            self.transport.unregisterProducer()
