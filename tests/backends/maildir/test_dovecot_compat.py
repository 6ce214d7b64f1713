"""
A Maildir written by a real Dovecot is read by idlemail with the same UIDs, UIDVALIDITY and
flags, and what idlemail writes Dovecot reads the same way.
"""

import imaplib
import os
import re
import shutil

import pytest_twisted
from twisted.internet import threads

from idlemail.backends.maildir.backend import MaildirBackend
from tests.backends.maildir.conftest import writePasswd


def dovecotSession(server, work):
    m = imaplib.IMAP4(server.host, server.port)
    m.login("alice", "alicepw")
    try:
        return work(m)
    finally:
        m.logout()


def fillWithDovecot(m):
    for n in range(4):
        m.append("INBOX", None, None, b"Subject: dovecot %d\r\n\r\nbody\r\n" % n)
    assert m.create("Lists/python")[0] == "OK"
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Flagged \\Seen $Work)")
    m.store("3", "+FLAGS", "(\\Deleted)")
    m.expunge()
    status = m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0].decode()
    uids = m.uid("SEARCH", "ALL")[1][0].split()
    return status, [int(u) for u in uids]


@pytest_twisted.ensureDeferred
async def test_idlemail_reads_a_maildir_dovecot_wrote(dovecot, tmp_path):
    status, dovecotUids = await threads.deferToThread(dovecotSession, dovecot, fillWithDovecot)
    dovecot.stop()
    validity = int(re.search(r"UIDVALIDITY (\d+)", status).group(1))
    writePasswd(tmp_path / "passwd", {"alice": "alicepw"})
    backend = MaildirBackend(dovecot.mailRoot, tmp_path / "passwd")
    try:
        account = await backend.login("alice", "alicepw")
        inbox = await account.open("INBOX", False)
        assert inbox.uidValidity == validity
        assert inbox.tracker.uids == dovecotUids == [1, 2, 4]
        infos = {i.uid: i for i in await inbox.messages(inbox.tracker.uids)}
        assert infos[2].flags == {"\\Flagged", "\\Seen", "$Work"}
        assert (await inbox.body(4)).startswith(b"Subject: dovecot 3\r\n")
        names = [i.name for i in await account.listMailboxes()]
        assert "Lists/python" in names
    finally:
        backend.close()


@pytest_twisted.ensureDeferred
async def test_dovecot_reads_what_idlemail_wrote(dovecot, tmp_path):
    dovecot.stop()
    writePasswd(tmp_path / "passwd", {"alice": "alicepw"})
    backend = MaildirBackend(dovecot.mailRoot, tmp_path / "passwd")
    account = await backend.login("alice", "alicepw")
    inbox = await account.open("INBOX", False)
    uids = [await inbox.append(b"Subject: idlemail %d\r\n\r\nx\r\n" % n, [], None)
            for n in range(3)]
    await inbox.store([uids[0]], ["\\Answered", "Later"], "+")
    await account.create("Archive")
    validity = inbox.uidValidity
    backend.close()
    if os.getuid() == 0:
        for path in [dovecot.mailRoot, *dovecot.mailRoot.rglob("*")]:
            shutil.chown(path, dovecot.mailUid, dovecot.mailGid)
    dovecot.start()

    def check(m):
        m.select("INBOX")
        return (m.status("INBOX", "(UIDVALIDITY)")[1][0].decode(),
                m.uid("SEARCH", "ALL")[1][0].split(),
                m.uid("FETCH", str(uids[0]), "(FLAGS)")[1][0].decode(),
                m.list()[1])

    status, found, flags, mailboxes = await threads.deferToThread(dovecotSession, dovecot, check)
    assert f"UIDVALIDITY {validity}" in status
    assert [int(u) for u in found] == uids
    assert "\\Answered" in flags and "Later" in flags
    assert any(b"Archive" in line for line in mailboxes)


def giveToDovecot(dovecot) -> None:
    if os.getuid() == 0:
        for path in [dovecot.mailRoot, *dovecot.mailRoot.rglob("*")]:
            shutil.chown(path, dovecot.mailUid, dovecot.mailGid)


def headerNext(uidlist) -> int:
    return int(re.search(r" N(\d+)", uidlist.read_text().splitlines()[0]).group(1))


@pytest_twisted.ensureDeferred
async def test_dovecot_and_idlemail_take_turns_appending_to_one_uidlist(dovecot, tmp_path):
    dovecot.stop()
    writePasswd(tmp_path / "passwd", {"alice": "alicepw"})
    uidlist = dovecot.maildir("alice") / "dovecot-uidlist"

    async def idlemailAppends(n: int):
        """UIDs of n APPENDs by a fresh idlemail, and the INBOX's UIDs after."""
        backend = MaildirBackend(dovecot.mailRoot, tmp_path / "passwd")
        try:
            inbox = await (await backend.login("alice", "alicepw")).open("INBOX", False)
            return [await inbox.append(b"Subject: idlemail %d\r\n\r\nx\r\n" % i, [], None)
                    for i in range(n)], inbox.tracker.uids
        finally:
            await backend.close()
    ours, _ = await idlemailAppends(3)
    assert headerNext(uidlist) < ours[-1] + 1  # appended lines: the header's N is stale
    giveToDovecot(dovecot)
    dovecot.start()

    def dovecotAppends(m):
        m.select("INBOX")
        seen = [int(u) for u in m.uid("SEARCH", "ALL")[1][0].split()]
        nextUid = int(re.search(rb"UIDNEXT (\d+)", m.status("INBOX", "(UIDNEXT)")[1][0]).group(1))
        given = []
        for i in range(2):
            typ, data = m.append("INBOX", None, None, b"Subject: dovecot %d\r\n\r\ny\r\n" % i)
            given.append(int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1)))
        return seen, nextUid, given
    seen, nextUid, theirs = await threads.deferToThread(dovecotSession, dovecot, dovecotAppends)
    dovecot.stop()
    assert seen == ours and nextUid == ours[-1] + 1
    assert theirs == [ours[-1] + 1, ours[-1] + 2]
    again, everything = await idlemailAppends(1)
    assert everything == ours + theirs + again and again == [theirs[-1] + 1]
