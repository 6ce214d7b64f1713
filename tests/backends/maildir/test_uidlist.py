"""
dovecot-uidlist: the UIDs survive restarts, damage is repaired, names cannot escape.
"""

import os

import pytest
import pytest_twisted

from idlemail.backends.maildir import names as N
from idlemail.backends.maildir.dotlock import DotLock
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


DOVECOT_LIST = ("3 V1700000000 N9 G0123456789abcdef\n"
                "3 :1700000000.M1P1.host,S=10,W=12\n"
                "7 W1234 :1700000001.M2P1.host\n")


def locked(uidlist):
    lock = DotLock(uidlist.path)
    assert lock.attempt()
    return lock


def test_uidlist_reads_dovecot_lines(tmp_path):
    (tmp_path / "dovecot-uidlist").write_text(DOVECOT_LIST)
    u = UidList(tmp_path)
    assert u.load()
    assert (u.uidValidity, u.uidNext) == (1700000000, 9)
    assert u.byBase == {"1700000000.M1P1.host,S=10,W=12": 3, "1700000001.M2P1.host": 7}
    assert u.extra == {7: "W1234"}


def test_new_uids_are_appended_as_lines_as_dovecot_does(tmp_path):
    path = tmp_path / "dovecot-uidlist"
    path.write_text(DOVECOT_LIST)
    inode = path.stat().st_ino
    u = UidList(tmp_path)
    u.load()
    lock = locked(u)
    u.record(lock, u.assign(["new.base", "newer.base"]))
    lock.release()
    # The header's N is stale now; the lines say which UID comes next.
    assert path.read_text() == DOVECOT_LIST + "9 :new.base\n10 :newer.base\n"
    assert path.stat().st_ino == inode
    assert not (tmp_path / "dovecot-uidlist.lock").exists()
    again = UidList(tmp_path)
    again.load()
    assert (again.uidNext, again.byBase["newer.base"]) == (11, 10)


def test_a_reader_picks_up_lines_appended_by_another_writer(tmp_path):
    (tmp_path / "dovecot-uidlist").write_text(DOVECOT_LIST)
    reader, writer = UidList(tmp_path), UidList(tmp_path)
    reader.load()
    writer.load()
    lock = locked(writer)
    writer.record(lock, writer.assign(["other.base"]))
    lock.release()
    reader.load()
    assert reader.byBase["other.base"] == 9 and reader.uidNext == 10


def test_a_list_of_mostly_dead_lines_is_compacted_through_the_lock_file(tmp_path):
    path = tmp_path / "dovecot-uidlist"
    lines = "".join(f"{n} :msg{n}\n" for n in range(1, 11))
    path.write_text("3 V1700000000 N11 Gabc\n" + lines)
    u = UidList(tmp_path)
    u.load()
    u.forget([f"msg{n}" for n in range(1, 8)])
    assert u.wantsRewrite()
    lock = locked(u)
    u.record(lock, u.assign(["fresh"]), present=lambda: {"msg5", "msg8", "msg9", "msg10",
                                                        "fresh"})
    assert not lock.held  # the lock file became the list
    # msg5 was believed gone but is still there: it keeps its line and its UID.
    assert path.read_text() == ("3 V1700000000 N12 Gabc\n5 :msg5\n8 :msg8\n9 :msg9\n"
                                "10 :msg10\n11 :fresh\n")
    assert not (tmp_path / "dovecot-uidlist.lock").exists()


def test_a_line_cut_short_by_a_dead_writer_is_rewritten_not_appended_to(tmp_path):
    path = tmp_path / "dovecot-uidlist"
    path.write_text(DOVECOT_LIST + "8 :half-writ")
    u = UidList(tmp_path)
    u.load()
    assert "half-writ" not in u.byBase
    lock = locked(u)
    u.record(lock, u.assign(["next.base"]))
    assert path.read_text().splitlines()[1:] == [
        "3 :1700000000.M1P1.host,S=10,W=12", "7 W1234 :1700000001.M2P1.host",
        "9 :next.base"]


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


def test_validity_of_reads_the_header_alone_and_follows_no_symlink_or_fifo(tmp_path):
    from idlemail.backends.maildir.uidlist import validityOf
    folder = tmp_path / "Box"
    folder.mkdir()
    uidlist = folder / "dovecot-uidlist"
    assert validityOf(folder) is None  # none yet
    uidlist.write_bytes(b"3 V1700000123 N5 Gabc\n1 :base\n" + b"9 :x\n" * 100_000)
    assert validityOf(folder) == 1700000123
    uidlist.write_bytes(b"1 1700000123 5\n")  # a version we do not read
    assert validityOf(folder) is None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"3 V42 N1\n")
    uidlist.unlink()
    uidlist.symlink_to(elsewhere)
    assert validityOf(folder) is None
    uidlist.unlink()
    os.mkfifo(uidlist)  # would block a plain open() for ever
    assert validityOf(folder) is None
