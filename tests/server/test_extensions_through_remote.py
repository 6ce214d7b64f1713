"""
What the server advertises works through the remote backend too: idlemail as a proxy in
front of an upstream (idlemail over a memory backend), with SEARCH sent upstream and SORT,
THREAD, BINARY and CATENATE worked out from what the upstream serves.
"""

import pytest_twisted

from idlemail.testing import DEFAULT_USERS, memoryBackend
from tests.backends.remote.conftest import Upstream, startProxy, stopProxy
from tests.server.clients import commands, untagged, ok, run
from tests.server.test_append_extensions import BINARY_MESSAGE, FIRST, SECOND, literalOf
from tests.server.test_sort_thread import THREADED


@pytest_twisted.async_yield_fixture
async def proxied():
    upstream = Upstream(memoryBackend(dict(DEFAULT_USERS)))
    upstream.start()
    proxy = await startProxy(upstream.port)
    yield upstream, proxy
    await stopProxy(proxy)
    await upstream.stop()


@pytest_twisted.ensureDeferred
async def test_search_sort_and_thread_through_the_remote_backend(proxied):
    upstream, proxy = proxied
    for message in THREADED:
        upstream.deliver(message)

    def script(c):
        ok(c.command(b"s", b"SELECT INBOX"), b"s")
        return commands(c, (
            b"SEARCH RETURN (MIN MAX COUNT SAVE) SUBJECT hello",
            b"UID FETCH $ (UID)",
            b"SORT (REVERSE DATE) UTF-8 $",
            b"THREAD REFERENCES UTF-8 ALL",
            b"SORT RETURN (ALL) (SUBJECT) UTF-8 NOT $",
        ))
    answers = await run(proxy, script)
    assert untagged(answers) == [
        [b'* ESEARCH (TAG "A0") MIN 1 MAX 8 COUNT 4'],
        [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)",
         b"* 8 FETCH (UID 8)"],  # with COUNT, SAVE keeps every match (RFC 5182 2.4)
        [b"* SORT 8 3 2 1"],
        [b"* THREAD ((1 2 3)(8))(4 7)((5)(6))"],
        [b'* ESEARCH (TAG "A4") ALL 4,7,5:6'],
    ]


@pytest_twisted.ensureDeferred
async def test_list_append_and_binary_through_the_remote_backend(proxied):
    upstream, proxy = proxied
    upstream.deliver(BINARY_MESSAGE)

    def script(c):
        ok(c.command(b"c", b"CREATE Sent"), b"c")
        return [c.command(b"A0", b'LIST "" * RETURN (SPECIAL-USE STATUS (MESSAGES))'),
                c.command(b"A1", b"CREATE Old (USE (\\Archive))"),
                c.command(b"A2", b"APPEND Sent {%d+}\r\n%s {%d+}\r\n%s"
                          % (len(FIRST), FIRST, len(SECOND), SECOND)),
                c.command(b"A3", b'APPEND Sent CATENATE (URL "/INBOX/;UID=1/;SECTION=1" '
                                 b'TEXT {2+}\r\n!!)'),
                c.command(b"s", b"SELECT INBOX"),
                c.command(b"A4", b"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2])"),
                c.command(b"A5", b"STATUS Sent (MESSAGES)")]
    listed, create, multi, catenated, _, binary, status = await run(proxy, script)
    assert ok(listed, b"A0") == [b'* LIST (\\HasNoChildren) "/" "INBOX"',
                                 b'* STATUS "INBOX" (MESSAGES 1)',
                                 b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
                                 b'* STATUS "Sent" (MESSAGES 0)']
    assert create[-1].startswith(b"A1 NO [USEATTR]")
    assert multi[-1].startswith(b"A2 OK [APPENDUID ") and multi[-1].split()[4] == b"1:2]"
    assert catenated[-1].startswith(b"A3 OK [APPENDUID ")
    assert literalOf(binary, b"BINARY[1]") == "café = ok".encode()
    assert b"BINARY.SIZE[2] 512" in b"".join(binary)
    assert ok(status, b"A5") == [b'* STATUS "Sent" (MESSAGES 3)']
