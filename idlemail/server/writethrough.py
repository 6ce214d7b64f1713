"""
Write-through: send at once when nothing is queued on the connection (a push, or what a
command gathered, L{idlemail.server.protocol}).

Twisted queues every write and sends it on the next reactor pass, after two epoll_ctl
calls per connection. When one change fans out to thousands of idlers, that doubles the
work per idler; sending straight away, and queueing only what the kernel did not take,
keeps the order of bytes and halves it.
"""

from __future__ import annotations

from twisted.internet import tcp


def writeNow(transport, data: bytes) -> None:
    if (type(transport) is tcp.Server and not transport.TLS and transport.connected
            and not transport.disconnecting and not transport._aborting
            and not transport.dataBuffer and not transport._tempDataBuffer):
        try:
            sent = transport.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # queued below; Twisted notices the broken socket and reports it
        if sent < len(data):
            transport.write(data[sent:])
        return
    transport.write(data)
