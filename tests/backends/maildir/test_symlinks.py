"""
The Maildir backend never follows a symlink out of the user's Maildir: message files,
folders, cur/new/tmp and index files that are symlinks are treated as not there.
"""

import os

import pytest
import pytest_twisted

from idlemail.errors import IMAPError, NoSuchMailbox

SECRET = b"Subject: not yours\r\n\r\nsecret\r\n"


def outsideFolder(tmp_path):
    """A Maildir folder outside every user's Maildir, holding one message."""
    outside = tmp_path / "outside"
    for sub in ("cur", "new", "tmp"):
        (outside / sub).mkdir(parents=True)
    (outside / "cur" / "1700000000.M1P1.elsewhere:2,").write_bytes(SECRET)
    return outside


def listing(path):
    return sorted(p.relative_to(path) for p in path.rglob("*"))


@pytest_twisted.ensureDeferred
async def test_a_message_file_that_is_a_symlink_is_skipped_with_a_warning(
        makeBackend, tmp_path, loggedWarnings):
    backend = makeBackend(linger=0)  # closed when left: opened again, it is looked at whole
    account = await backend.login("alice", "alicepw")
    inbox = await account.open("INBOX", False)
    real = await inbox.append(b"Subject: mine\r\n\r\nmine\r\n", [], None)
    inbox.close()
    secret = tmp_path / "secret.eml"
    secret.write_bytes(SECRET)
    home = backend.root / "alice" / "Maildir"
    os.symlink(secret, home / "new" / "1700000001.M2P1.evil")
    os.symlink(secret, home / "cur" / "1700000002.M3P1.evil:2,S")
    inbox = await (await backend.login("alice", "alicepw")).open("INBOX", False)
    assert inbox.tracker.uids == [real]
    assert [await inbox.body(uid) for uid in inbox.tracker.uids] == [
        b"Subject: mine\r\n\r\nmine\r\n"]
    assert sum("symlink" in w for w in loggedWarnings) == 2


@pytest_twisted.ensureDeferred
async def test_a_message_replaced_by_a_symlink_is_never_read(makeBackend, tmp_path):
    backend = makeBackend(useInotify=False, pollInterval=3600)
    inbox = await (await backend.login("alice", "alicepw")).open("INBOX", False)
    uid = await inbox.append(b"Subject: mine\r\n\r\nmine\r\n", [], None)
    secret = tmp_path / "secret.eml"
    secret.write_bytes(SECRET)
    entry = inbox._folder.entry(uid)
    path = inbox._folder.path / entry.subdir / entry.filename
    os.unlink(path)
    os.symlink(secret, path)
    assert await inbox.body(uid) is None
    await inbox._opened.rescan()  # what the poller does: the link is not a message
    assert inbox.tracker.uids == []


@pytest.mark.parametrize("link", [".Evil", ".Half/cur"])
@pytest_twisted.ensureDeferred
async def test_a_folder_that_is_a_symlink_is_not_listed_opened_created_or_deleted(
        makeBackend, tmp_path, link):
    backend = makeBackend()
    account = await backend.login("alice", "alicepw")
    outside = outsideFolder(tmp_path)
    home = backend.root / "alice" / "Maildir"
    if link == ".Half/cur":  # a real folder whose cur/ points elsewhere
        for sub in ("new", "tmp"):
            (home / ".Half" / sub).mkdir(parents=True)
        os.symlink(outside / "cur", home / ".Half" / "cur")
        name = "Half"
    else:
        os.symlink(outside, home / ".Evil")
        name = "Evil"
    before = listing(outside)
    assert name not in [info.name for info in await account.listMailboxes()]
    for attempt in (account.open(name, False), account.status(name), account.delete(name)):
        with pytest.raises(NoSuchMailbox):
            await attempt
    with pytest.raises(IMAPError):
        await account.create(name)
    with pytest.raises(IMAPError):
        await account.create(name + "/Child")
    assert listing(outside) == before
    assert (outside / "cur" / "1700000000.M1P1.elsewhere:2,").read_bytes() == SECRET


@pytest_twisted.ensureDeferred
async def test_index_files_that_are_symlinks_are_not_followed(makeBackend, tmp_path,
                                                               loggedWarnings):
    backend = makeBackend()
    account = await backend.login("alice", "alicepw")
    home = backend.root / "alice" / "Maildir"
    planted = {}
    for name, text in (("dovecot-uidlist", "3 V1234 N9 Gabc\n1 :victim\n"),
                       ("dovecot-keywords", "0 $Planted\n"),
                       ("subscriptions", "V\t2\n\nPlanted\n")):
        target = tmp_path / f"target-{name}"
        target.write_text(text)
        os.symlink(target, home / name)
        planted[name] = (target, text)
    inbox = await account.open("INBOX", False)
    await inbox.append(b"Subject: x\r\n\r\ny\r\n", ["$Mine"], None)
    await account.subscribe("Real")
    assert inbox.uidValidity != 1234
    assert inbox.tracker.keywords == ("$Mine",)
    assert await account.subscriptions() == ["Real"]
    for target, text in planted.values():  # written next to, never through, the link
        assert target.read_text() == text
    assert any("dovecot-uidlist" in w for w in loggedWarnings)
