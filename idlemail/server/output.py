"""
Writing a large response in pieces, and only as fast as the client reads it: the pieces
are bytes, or a message body read from the backend a chunk at a time (L{IBodyStreams});
between two chunks the writer waits while the connection's unsent output is over its
bound (see L{IMAPServerProtocol.whenWritable}). So a client that asks for 100 MB and reads
nothing costs the server one chunk and the bound, not 100 MB.
"""

from __future__ import annotations

#: The largest piece handed to the transport at once.
CHUNK = 64 * 1024


class ShortBody(Exception):
    """The backend's stream ended before the size it announced."""


async def writeResponse(session, pieces) -> None:
    """
    Write C{pieces} in order: bytes as they are (large ones in chunks), a body stream as
    exactly its C{size} octets (then closed). Once anything is written, a failure cannot
    be answered with a tagged NO in the middle of a literal: the connection is dropped.
    """
    small: list[bytes] = []
    written = False
    pieces = list(pieces)
    try:
        for index, piece in enumerate(pieces):
            if isinstance(piece, (bytes, bytearray)) and len(piece) <= CHUNK:
                small.append(piece)
                continue
            if small:
                written = True
                await writeData(session, b"".join(small))
                small = []
            if isinstance(piece, (bytes, bytearray)):
                for start in range(0, len(piece), CHUNK):
                    written = True
                    await writeData(session, bytes(piece[start:start + CHUNK]))
            else:
                written = True
                await _writeStream(session, piece)
        if small:
            written = True
            await writeData(session, b"".join(small))
    except Exception as e:
        for later in pieces[index + 1:]:  # streams never reached are closed all the same
            if not isinstance(later, (bytes, bytearray)):
                later.close()
        if written:
            session.abandon(f"a response could not be finished ({e.__class__.__name__}: {e})")
        raise


async def writeData(session, data: bytes) -> None:
    """Write C{data}, then wait while the client is behind."""
    session.write(data)
    wait = session.whenWritable()
    if wait is not None:
        await wait


async def _writeStream(session, stream) -> None:
    left = stream.size
    try:
        while left > 0:
            chunk = await stream.read(min(CHUNK, left))
            if not chunk:
                raise ShortBody(f"the message ended {left} octets short of its size")
            chunk = chunk[:left]
            left -= len(chunk)
            await writeData(session, bytes(chunk))
    finally:
        stream.close()
