"""
Authentication under attack: password hashes checked on the server's own small thread pool,
logins remembered as Dovecot's auth_cache does (one check per user in a reconnect storm,
none for a failure, forgotten when the credentials change), failed logins answered after a
delay that does not block the reactor, and BYE after three failures on one connection.
"""

import threading

import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.task import Clock

from idlemail import passwd
from idlemail.backends.memory import MemoryBackend
from idlemail.server.credentials import AuthThreads
from idlemail.server.limits import Limits
from tests.server.clients import RawClient, answeredYet, inThread


def login(server, user: bytes, password: bytes) -> list[bytes]:
    c = RawClient(server.host, server.port)
    try:
        return c.command(b"a", b"LOGIN " + user + b" " + password)
    finally:
        c.close()


@pytest_twisted.ensureDeferred
async def test_password_hashes_are_checked_on_the_auth_pool(maildirServer, monkeypatch):
    threads = []
    verify = passwd.verifyPassword

    def recording(password, stored):
        threads.append(threading.current_thread().name)
        return verify(password, stored)
    monkeypatch.setattr(passwd, "verifyPassword", recording)
    answers = await inThread(lambda: [login(maildirServer, b"alice", p)[-1]
                                      for p in (b"alicepw", b"wrong")])
    assert answers[0].startswith(b"a OK") and answers[1].startswith(b"a NO")
    assert threads and all("idlemail-auth" in name for name in threads), threads


@pytest_twisted.ensureDeferred
async def test_a_reconnect_storm_costs_one_check_per_user(server, monkeypatch):
    checks = []
    check = MemoryBackend.login

    def slowCheck(self, username, password):  # as long as a real hash, off the reactor
        checks.append(username)
        return task.deferLater(reactor, 0.3, check, self, username, password)
    monkeypatch.setattr(MemoryBackend, "login", slowCheck)
    server.factory.limits.maxUserIP = 0

    def storm():
        clients = [RawClient(server.host, server.port) for _ in range(20)]
        for i, c in enumerate(clients):
            user = (b"alice alicepw", b"bob bobpw")[i % 2]
            c.send(b"a LOGIN " + user + b"\r\n")
        answers = [c.readUntilTagged(b"a")[-1] for c in clients]
        for c in clients:
            c.close()
        return answers + [login(server, b"alice", b"alicepw")[-1] for _ in range(5)]
    answers = await inThread(storm)
    assert all(a.startswith(b"a OK") for a in answers), answers
    assert sorted(checks) == ["alice", "bob"]


@pytest_twisted.ensureDeferred
async def test_failures_are_never_remembered_and_a_new_password_works_at_once(server,
                                                                             monkeypatch):
    checks = []
    check = MemoryBackend.login

    def counted(self, username, password):
        checks.append(password)
        return check(self, username, password)
    monkeypatch.setattr(MemoryBackend, "login", counted)

    def tries():
        return [login(server, b"alice", p)[-1][:4] for p in (b"wrong", b"wrong", b"alicepw",
                                                              b"alicepw")]
    assert await inThread(tries) == [b"a NO", b"a NO", b"a OK", b"a OK"]
    assert checks == ["wrong", "wrong", "alicepw"]  # the second success was remembered
    server.backend.setPassword("alice", "newpw")
    after = await inThread(lambda: [login(server, b"alice", p)[-1][:4]
                                    for p in (b"newpw", b"alicepw")])
    assert after == [b"a OK", b"a NO"]  # the old password stopped working at once


@pytest_twisted.ensureDeferred
async def test_a_failed_login_waits_without_stalling_anyone(serve):
    server = serve(authFailureDelay=1.0)

    def go():
        slow = RawClient(server.host, server.port)
        slow.send(b"a LOGIN alice wrong\r\n")
        other = RawClient(server.host, server.port)
        served = other.command(b"n", b"LOGIN bob bobpw")
        other.close()
        return served, answeredYet(slow, b"a"), slow.readUntilTagged(b"a")
    served, answeredBefore, failed = await inThread(go)
    assert served[-1].startswith(b"n OK")
    assert not answeredBefore  # the failure was still waiting while another was served
    assert failed == [b"a NO [AUTHENTICATIONFAILED] Authentication failed."]


def test_the_failure_delay_grows_per_address_up_to_a_cap_and_is_forgotten():
    clock = Clock()
    limits = Limits(clock, trustedNetworks=("10.0.0.0/8",))
    assert [limits.failed("203.0.113.5") for _ in range(6)] == [2, 4, 8, 15, 15, 15]
    assert limits.failed("198.51.100.7") == 2  # another address starts afresh
    assert [limits.failed("10.1.2.3") for _ in range(3)] == [2, 2, 2]  # trusted: no growth
    clock.advance(3601)
    limits.sweep()
    assert limits.failed("203.0.113.5") == 2
    limits.failed("203.0.113.5")
    limits.succeeded("203.0.113.5")
    assert limits.failed("203.0.113.5") == 2


@pytest_twisted.ensureDeferred
async def test_three_failures_on_one_connection_end_it_with_bye(server):
    def go():
        c = RawClient(server.host, server.port)
        answers = [c.command(b"a%d" % i, b"LOGIN alice wrong") for i in range(3)]
        try:
            rest = c.sock.recv(100)
        except ConnectionResetError:
            rest = b""
        return answers, rest
    answers, rest = await inThread(go)
    assert [a[-1] for a in answers[:2]] == [
        b"a0 NO [AUTHENTICATIONFAILED] Authentication failed.",
        b"a1 NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert answers[2] == [b"* BYE Too many failed logins",
                          b"a2 NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert rest == b""  # closed


@pytest_twisted.ensureDeferred
async def test_password_checks_go_on_when_servers_stop_in_any_order(tmp_path):
    first, second = AuthThreads(1), AuthThreads(1)
    first.start()
    second.start()
    first.stop()
    passwords = passwd.PasswdFile(tmp_path / "passwd")
    passwords.setPassword("alice", "pw", "PLAIN")
    assert await passwords.checkPassword("alice", "pw").addTimeout(10, reactor) is True
    second.stop()  # the last one: back to the reactor's pool, never a stopped one
    assert await passwords.checkPassword("alice", "pw").addTimeout(10, reactor) is True


@pytest_twisted.ensureDeferred
async def test_maildir_logins_are_remembered_until_the_passwd_file_changes(maildirServer,
                                                                           monkeypatch):
    checks = []
    verify = passwd.verifyPassword

    def counted(password, stored):
        checks.append(password)
        return verify(password, stored)
    monkeypatch.setattr(passwd, "verifyPassword", counted)
    maildirServer.factory.limits.maxUserIP = 0

    def storm():
        clients = [RawClient(maildirServer.host, maildirServer.port) for _ in range(10)]
        for c in clients:
            c.send(b"a LOGIN alice alicepw\r\n")
        answers = [c.readUntilTagged(b"a")[-1] for c in clients]
        for c in clients:
            c.close()
        return answers
    answers = await inThread(storm)
    assert all(a.startswith(b"a OK") for a in answers), answers
    assert checks == ["alicepw"]  # one hash for the whole storm
    maildirServer.backend.passwd.setPassword("alice", "newpw", "PLAIN")
    after = await inThread(lambda: [login(maildirServer, b"alice", p)[-1][:4]
                                    for p in (b"alicepw", b"newpw")])
    assert after == [b"a NO", b"a OK"]  # the old password stopped working at once
