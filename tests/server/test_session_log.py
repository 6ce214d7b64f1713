"""
Log lines an operator and fail2ban can use, and that an attacker cannot flood: one line per
login, failed login and logout (user, remote IP and port, session length), values escaped;
an unexpected failure logs its traceback once per connection, then only counts.
"""

import re

import pytest
import pytest_twisted
from twisted.logger import formatEvent, globalLogPublisher

from idlemail.backends.memory import MemoryAccount
from idlemail.testing.conformance import waitFor
from tests.server.clients import RawClient, inThread

FAIL2BAN = re.compile(r"login failed: user=<\S*> rip=(?P<host>\S+) ")


@pytest.fixture
def events():
    """Every log event published while the test runs."""
    seen = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


def lines(events, start: str) -> list[str]:
    return [text for text in map(formatEvent, events) if text.startswith(start)]


@pytest_twisted.ensureDeferred
async def test_login_and_logout_are_one_line_each_with_address_and_length(server, events):
    def go():
        c = RawClient(server.host, server.port)
        port = c.sock.getsockname()[1]
        c.login()
        c.command(b"z", b"LOGOUT")
        c.close()
        return port
    port = await inThread(go)
    await waitFor(lambda: lines(events, "logout:"))
    [login] = lines(events, "login:")
    [logout] = lines(events, "logout:")
    assert login == f"login: user=<alice> rip=127.0.0.1 rport={port} method=LOGIN tls=no"
    assert re.fullmatch(rf"logout: user=<alice> rip=127\.0\.0\.1 rport={port} "
                        r"session=\d+\.\ds", logout), logout


@pytest_twisted.ensureDeferred
async def test_a_failed_login_is_one_fail2ban_line_with_the_user_escaped(server, events):
    def go():
        c = RawClient(server.host, server.port)
        port = c.sock.getsockname()[1]
        c.command(b"a", b'LOGIN "mal lory<x>" wrong')
        c.close()
        return port
    port = await inThread(go)
    [failed] = lines(events, "login failed:")
    assert failed == (f"login failed: user=<mal\\x20lory\\x3cx\\x3e> rip=127.0.0.1 "
                      f"rport={port} method=LOGIN reason=bad credentials")
    assert FAIL2BAN.match(failed).group("host") == "127.0.0.1"


@pytest_twisted.ensureDeferred
async def test_the_same_failure_logs_its_traceback_once_per_connection(server, events,
                                                                      monkeypatch):
    def broken(self, name):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(MemoryAccount, "status", broken)

    def go():
        c = RawClient(server.host, server.port)
        c.login()
        answers = [c.command(b"a%d" % i, b"STATUS INBOX (MESSAGES)")[-1] for i in range(5)]
        c.close()
        return answers
    answers = await inThread(go)
    assert all(b"NO [SERVERBUG]" in a for a in answers)
    await waitFor(lambda: lines(events, "4 more"))
    tracebacks = [e for e in events if e.get("log_failure") is not None]
    assert len(tracebacks) == 1
    [summary] = lines(events, "4 more")
    assert summary.startswith("4 more unexpected failures of STATUS: ZeroDivisionError "
                              "(rip=127.0.0.1 rport=")


@pytest_twisted.ensureDeferred
async def test_refused_connections_are_one_line_per_address_per_minute(serve, events):
    server = serve(trustedNetworks=(), maxConnectionsPerIP=1)

    def go():
        clients = [RawClient(server.host, server.port) for _ in range(11)]
        for c in clients:
            c.close()
        return [c.greeting for c in clients[1:]]
    refused = await inThread(go)
    assert refused == [b"* BYE [LIMIT] Too many connections from your address"] * 10
    assert lines(events, "connection refused:") == [
        "connection refused: rip=127.0.0.1 reason=too many connections from this address "
        "(and 0 more since the last such line)"]
