"""
STARTTLS over a real socket (RFC 3501 6.2.1): offered before TLS, never after it.
"""

import ssl

import pytest_twisted
from twisted.internet import defer

from idlemail.server.tls import contextFromFiles
from idlemail.testing import listenLocal, memoryBackend
from idlemail.testing.certs import selfSigned
from tests.server.clients import RawClient, inThread


def capabilities(lines) -> list[bytes]:
    [line] = [line for line in lines if line.startswith(b"* CAPABILITY ")]
    return line.split()[2:]


@pytest_twisted.ensureDeferred
async def test_capability_stops_offering_starttls_once_tls_is_on(tmp_path):
    cert = selfSigned(tmp_path)
    port, factory = listenLocal(memoryBackend(), tlsContext=contextFromFiles(str(cert)))

    def go():
        c = RawClient("127.0.0.1", port.getHost().port)
        before = capabilities(c.command(b"a", b"CAPABILITY"))
        assert c.command(b"b", b"STARTTLS")[-1].startswith(b"b OK")
        context = ssl.create_default_context(cafile=str(cert))
        c.sock = context.wrap_socket(c.sock, server_hostname="localhost")
        after = capabilities(c.command(b"c", b"CAPABILITY"))
        again = c.command(b"d", b"STARTTLS")
        c.login()
        c.close()
        return before, after, again
    try:
        before, after, again = await inThread(go)
    finally:
        for session in list(factory.sessions):
            session.transport.abortConnection()
        await defer.maybeDeferred(port.stopListening)
    assert b"STARTTLS" in before and b"AUTH=PLAIN" in before
    assert b"STARTTLS" not in after and b"AUTH=PLAIN" in after
    assert again[-1].startswith(b"d BAD")
