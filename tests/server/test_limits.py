"""
Limits with Dovecot's defaults: connections per remote address (not for trusted networks),
sessions per user and address (idlers count), and a pre-login timeout apart from the
autologout.
"""

import pytest_twisted

from tests.server.clients import RawClient, inThread


@pytest_twisted.ensureDeferred
async def test_connections_per_address_are_limited_unless_trusted(serve):
    refused = serve(trustedNetworks=(), maxConnectionsPerIP=3)
    trusted = serve(maxConnectionsPerIP=3)  # loopback is trusted by default

    def go(server):
        clients = [RawClient(server.host, server.port) for _ in range(4)]
        said = [c.greeting for c in clients]
        closed = said[3].startswith(b"* BYE") and clients[3].sock.recv(10) == b""
        clients[0].close()
        again = None
        for _ in range(100):  # once the server has seen the close, there is room again
            c = RawClient(server.host, server.port)
            again = c.greeting
            c.close()
            if again.startswith(b"* OK"):
                break
        for c in clients[1:]:
            c.close()
        return said, closed, again
    said, closed, again = await inThread(go, refused)
    open_ = await inThread(go, trusted)
    assert [s[:4] for s in said[:3]] == [b"* OK"] * 3
    assert said[3] == b"* BYE [LIMIT] Too many connections from your address" and closed
    assert again.startswith(b"* OK")
    assert all(s.startswith(b"* OK") for s in open_[0])


@pytest_twisted.ensureDeferred
async def test_sessions_per_user_and_address_are_limited_and_idlers_count(serve):
    server = serve(maxUserIPConnections=2)

    def go():
        idlers = []
        for _ in range(2):
            c = RawClient(server.host, server.port)
            c.login()
            c.command(b"s", b"SELECT INBOX")
            c.send(b"i IDLE\r\n")
            assert c.readline() == b"+ idling"
            idlers.append(c)
        third = RawClient(server.host, server.port)
        refused = third.command(b"a", b"LOGIN alice alicepw")
        bob = third.command(b"b", b"LOGIN bob bobpw")
        idlers[0].close()
        for _ in range(100):
            c = RawClient(server.host, server.port)
            again = c.command(b"c", b"LOGIN alice alicepw")
            c.close()
            if again[-1].startswith(b"c OK"):
                break
        third.close()
        idlers[1].close()
        return refused, bob, again
    refused, bob, again = await inThread(go)
    assert refused == [b"a NO [LIMIT] Too many connections for this user from your address"]
    assert bob[-1].startswith(b"b OK")  # another user from the same address
    assert again[-1].startswith(b"c OK")  # once one of alice's sessions ended


@pytest_twisted.ensureDeferred
async def test_a_connection_that_does_not_log_in_is_closed_after_the_prelogin_timeout(serve):
    server = serve(preloginTimeout=0.3)

    def go():
        idle = RawClient(server.host, server.port)
        user = RawClient(server.host, server.port)
        user.login()
        bye = idle.readline()  # within the client's 10 s deadline
        closed = idle.sock.recv(10) == b""
        still = user.command(b"n", b"NOOP")
        idle.close()
        user.close()
        return bye, closed, still
    bye, closed, still = await inThread(go)
    assert bye == b"* BYE Timed out waiting for a login" and closed
    assert still[-1].startswith(b"n OK")  # a logged-in session has the autologout instead
    assert server.factory.autologout >= 30 * 60
