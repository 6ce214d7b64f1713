"""
The TLS policy ([server] plaintext_auth): where passwords may not be sent in clear,
CAPABILITY says LOGINDISABLED (no AUTH=) and LOGIN/AUTHENTICATE get NO [PRIVACYREQUIRED],
until STARTTLS; implicit TLS (an ssl: endpoint) is secure from the first octet.
"""

import imaplib
import ssl

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import serverFromString

from idlemail.server.factory import IMAPServerFactory
from idlemail.server.tls import contextFromFiles
from idlemail.testing import memoryBackend
from idlemail.testing.certs import selfSigned
from tests.server.clients import RawClient, inThread


def capabilities(lines) -> list[bytes]:
    [line] = [line for line in lines if line.startswith(b"* CAPABILITY ")]
    return line.split()[2:]


async def stop(port, factory):
    for session in list(factory.sessions):
        session.transport.abortConnection()
    await defer.maybeDeferred(port.stopListening)


@pytest_twisted.ensureDeferred
async def test_never_refuses_passwords_in_clear_until_starttls(serve, tmp_path):
    cert = selfSigned(tmp_path)
    server = serve(tlsContext=contextFromFiles(str(cert)), plaintextAuth="never")

    def go():
        c = RawClient(server.host, server.port)
        before = capabilities(c.command(b"a", b"CAPABILITY"))
        login = c.command(b"b", b"LOGIN alice alicepw")
        auth = c.command(b"c", b"AUTHENTICATE PLAIN")  # no "+": no password sent
        c.command(b"d", b"STARTTLS")
        context = ssl.create_default_context(cafile=str(cert))
        c.sock = context.wrap_socket(c.sock, server_hostname="localhost")
        after = capabilities(c.command(b"e", b"CAPABILITY"))
        secure = c.command(b"f", b"LOGIN alice alicepw")
        c.close()
        return before, login, auth, after, secure
    before, login, auth, after, secure = await inThread(go)
    assert b"LOGINDISABLED" in before and b"STARTTLS" in before
    assert not any(c.startswith(b"AUTH=") for c in before)
    refusal = b" NO [PRIVACYREQUIRED] Plaintext authentication is disabled without TLS"
    assert login == [b"b" + refusal] and auth == [b"c" + refusal]
    assert b"AUTH=PLAIN" in after and b"LOGINDISABLED" not in after
    assert secure[-1].startswith(b"f OK")


@pytest_twisted.ensureDeferred
async def test_loopback_and_always_allow_passwords_in_clear_on_127_0_0_1(serve):
    def go(server):
        c = RawClient(server.host, server.port)
        caps = capabilities(c.command(b"a", b"CAPABILITY"))
        login = c.command(b"b", b"LOGIN alice alicepw")
        c.close()
        return caps, login
    results = [await inThread(go, serve(plaintextAuth=policy))
               for policy in ("loopback", "always")]
    for caps, login in results:
        assert b"AUTH=PLAIN" in caps and b"LOGINDISABLED" not in caps
        assert login[-1].startswith(b"b OK")


class _Session:
    """What the policy looks at: the peer's address and whether TLS is on."""

    def __init__(self, host, tls=False):
        self.peer, self.tlsActive = (host, 4321), tls


@pytest.mark.parametrize("policy,host,tls,allowed", [
    ("loopback", "127.0.0.1", False, True), ("loopback", "127.8.9.10", False, True),
    ("loopback", "::1", False, True), ("loopback", "203.0.113.5", False, False),
    ("loopback", "2001:db8::5", False, False), ("loopback", "203.0.113.5", True, True),
    ("always", "203.0.113.5", False, True), ("never", "127.0.0.1", False, False),
    ("never", "127.0.0.1", True, True),
])
def test_the_policy_decides_by_address_and_tls(policy, host, tls, allowed):
    factory = IMAPServerFactory(memoryBackend(), reactor, plaintextAuth=policy)
    assert factory.plaintextAllowed(_Session(host, tls)) is allowed


@pytest_twisted.ensureDeferred
async def test_implicit_tls_takes_passwords_whatever_the_policy(tmp_path):
    cert = selfSigned(tmp_path)
    factory = IMAPServerFactory(memoryBackend(), reactor, plaintextAuth="never")
    endpoint = serverFromString(reactor, f"ssl:0:privateKey={cert}:interface=127.0.0.1")
    port = await endpoint.listen(factory)

    def go():
        context = ssl.create_default_context(cafile=str(cert))
        imap = imaplib.IMAP4_SSL("127.0.0.1", port.getHost().port, ssl_context=context,
                                 timeout=10)
        caps = imap.capabilities
        imap.login("alice", "alicepw")
        status, _ = imap.select("INBOX")
        imap.logout()
        return caps, status
    try:
        caps, status = await inThread(go)
    finally:
        await stop(port, factory)
    assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps and "STARTTLS" not in caps
    assert status == "OK"
