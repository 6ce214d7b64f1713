"""
A mailbox reset (its UIDs no longer mean what sessions were told, e.g. UIDVALIDITY changed
upstream): every session that has it selected is told BYE and closed, idling or not;
sessions of other mailboxes go on.
"""

import pytest_twisted

from idlemail.events import MailboxReset
from tests.server.clients import RawClient, inThread
from tests.server.test_idle import idlingClient


async def inboxTracker(server):
    account = await server.backend.login("alice", "alicepw")
    return (await account.open("INBOX", False)).tracker


def readToEnd(client) -> list[bytes]:
    lines = []
    try:
        while True:
            lines.append(client.readline())
    except ConnectionError:
        return lines


@pytest_twisted.ensureDeferred
async def test_a_reset_ends_idling_and_waiting_sessions_with_bye(server):
    server.backend.users["alice"].mailboxes["Other"] = \
        type(server.backend.users["alice"].mailboxes["INBOX"])()

    def connect():
        idler = idlingClient(server)
        waiting = RawClient(server.host, server.port)
        waiting.login()
        waiting.command(b"s", b"SELECT INBOX")
        elsewhere = RawClient(server.host, server.port)
        elsewhere.login()
        elsewhere.command(b"s", b"SELECT Other")
        return idler, waiting, elsewhere
    idler, waiting, elsewhere = await inThread(connect)
    (await inboxTracker(server)).publish(MailboxReset("INBOX was replaced upstream"))

    def collect():
        return readToEnd(idler), readToEnd(waiting), elsewhere.command(b"n", b"NOOP")
    idled, waited, noop = await inThread(collect)
    assert idled == [b"* BYE INBOX was replaced upstream"]
    assert waited == [b"* BYE INBOX was replaced upstream"]
    assert noop[-1].startswith(b"n OK")
