"""
A command's output is gathered while it runs and handed to the socket in one write when
it ends (or waits for something): one send per command, no write queued per line.
"""

import pytest_twisted

from idlemail.server import protocol
from tests.server.clients import RawClient, inThread, ok


@pytest_twisted.ensureDeferred
async def test_a_many_line_answer_goes_out_in_one_write(server, monkeypatch):
    for i in range(30):
        server.deliver(b"Subject: %d\r\n\r\nbody\r\n" % i)
    c = await inThread(RawClient, server.host, server.port)
    try:
        await inThread(c.login)
        await inThread(c.command, b"s", b"SELECT INBOX")
        session = next(iter(server.factory.sessions))
        sends, queued = [], []
        writeNow = protocol.writeNow
        monkeypatch.setattr(protocol, "writeNow",
                            lambda transport, data: (sends.append(data),
                                                     writeNow(transport, data)))
        write = session.transport.write
        monkeypatch.setattr(session.transport, "write",
                            lambda data: (queued.append(data), write(data)))
        lines = ok(await inThread(c.command, b"a", b"FETCH 1:* (UID FLAGS)"))
        assert len(lines) == 30
        assert queued == []  # no line queued on the transport by itself
        assert len(sends) == 1 and sends[0].count(b"\r\n") == 31  # and the tagged OK
    finally:
        c.close()


@pytest_twisted.ensureDeferred
async def test_a_continuation_is_sent_while_the_command_still_runs(server):
    # APPEND's "+" must reach the client before the command ends, or both would wait.
    c = await inThread(RawClient, server.host, server.port)
    try:
        await inThread(c.login)
        await inThread(c.send, b"a APPEND INBOX {12}\r\n")
        assert (await inThread(c.readline)).startswith(b"+")
        await inThread(c.send, b"Subject: x\r\n\r\n")
        assert (await inThread(c.readUntilTagged, b"a"))[-1].startswith(b"a OK")
    finally:
        c.close()
