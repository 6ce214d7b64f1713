"""
dovecot-uidlist: the UIDs survive restarts, damage is repaired, names cannot escape.
"""

import os

import pytest
import pytest_twisted

from idlemail.backends.maildir import names as N
from idlemail.backends.maildir.uidlist import UidList
from idlemail.errors import IMAPError


async def inbox(backend):
    account = await backend.login("alice", "alicepw")
    return await account.open("INBOX", False)


@pytest_twisted.ensureDeferred
async def test_a_restart_keeps_every_uid_and_the_uidvalidity(makeBackend):
    first = makeBackend()
    box = await inbox(first)
    uids = [await box.append(b"Subject: %d\r\n\r\nx\r\n" % n, [], None) for n in range(5)]
    await box.store([uids[1]], ["\\Deleted"], "+")
    await box.expunge()
    validity = box.uidValidity
    first.close()
    again = await inbox(makeBackend())
    assert again.uidValidity == validity
    assert again.tracker.uids == [uids[0]] + uids[2:]
    assert await again.append(b"Subject: new\r\n\r\nx\r\n", [], None) == uids[-1] + 1


def test_uidlist_reads_dovecot_lines_and_writes_version_3(tmp_path):
    (tmp_path / "dovecot-uidlist").write_text(
        "3 V1700000000 N9 G0123456789abcdef\n"
        "3 :1700000000.M1P1.host,S=10,W=12\n"
        "7 W1234 :1700000001.M2P1.host\n")
    u = UidList(tmp_path)
    assert u.load()
    assert (u.uidValidity, u.uidNext) == (1700000000, 9)
    assert u.byBase == {"1700000000.M1P1.host,S=10,W=12": 3, "1700000001.M2P1.host": 7}
    u.lock()
    u.assign(["new.base"])
    u.save()
    text = (tmp_path / "dovecot-uidlist").read_text()
    assert text.splitlines()[0] == "3 V1700000000 N10 G0123456789abcdef"
    assert "7 W1234 :1700000001.M2P1.host" in text and "9 :new.base" in text
    assert not (tmp_path / "dovecot-uidlist.lock").exists()


@pytest_twisted.ensureDeferred
async def test_a_damaged_uidlist_is_repaired_without_reusing_uids(makeBackend):
    backend = makeBackend()
    box = await inbox(backend)
    uids = [await box.append(b"Subject: %d\r\n\r\nx\r\n" % n, [], None) for n in range(3)]
    validity = box.uidValidity
    backend.close()
    path = backend.root / "alice" / "Maildir" / "dovecot-uidlist"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\ngarbage without colon\n")  # line 3 damaged
    again = await inbox(makeBackend())
    assert again.uidValidity == validity
    assert again.tracker.uids[0] == uids[0]
    assert len(again.tracker.uids) == 3 and len(set(again.tracker.uids)) == 3
    assert min(again.tracker.uids[1:]) > uids[-1] or again.tracker.uids[1:] == uids[1:]


@pytest_twisted.ensureDeferred
async def test_an_unreadable_header_means_a_new_uidvalidity(makeBackend):
    backend = makeBackend()
    box = await inbox(backend)
    await box.append(b"Subject: 1\r\n\r\nx\r\n", [], None)
    validity = box.uidValidity
    backend.close()
    path = backend.root / "alice" / "Maildir" / "dovecot-uidlist"
    path.write_bytes(b"\x00\x00 half")
    again = await inbox(makeBackend())
    assert again.uidValidity != validity
    assert len(again.tracker.uids) == 1


@pytest.mark.parametrize("name", ["..", "../etc", "/abs", "a/../b", "x\x00y", "bell\x07",
                                  ".hidden", "a/.b", "dot.ted", "trailing/"])
def test_names_that_could_escape_are_refused(name):
    with pytest.raises(IMAPError):
        N.folderOf(name)


@pytest.mark.parametrize("name, folder", [("INBOX", ""), ("Sent", ".Sent"),
                                          ("Lists/python", ".Lists.python"),
                                          ("Entwürfe", ".Entw&APw-rfe")])
def test_names_map_to_maildirplusplus_folders(name, folder):
    assert N.folderOf(name) == folder
    if folder:
        assert N.nameOf(folder) == name


@pytest_twisted.ensureDeferred
async def test_create_refuses_traversal_with_a_clear_no(makeBackend):
    account = await makeBackend().login("alice", "alicepw")
    with pytest.raises(IMAPError) as e:
        await account.create("../../etc")
    assert "Invalid mailbox name" in str(e.value)
    assert not os.path.exists(makeBackend().root / "etc")
