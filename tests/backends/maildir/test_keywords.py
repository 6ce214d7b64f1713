"""
Dovecot's dovecot-keywords file: keywords found case-insensitively, and a file that
already holds an entry no IMAP client may see (8-bit, not an atom) still loads.
"""

import pytest_twisted

from idlemail.backends.maildir.backend import createMaildir


def keywordFile(backend, text: bytes):
    home = createMaildir(backend.root, "alice")
    (home / "dovecot-keywords").write_bytes(text)
    name = "1700000000.M1P1.host:2,abcd"
    (home / "cur" / name).write_bytes(b"Subject: k\r\n\r\nk\r\n")
    return home


@pytest_twisted.ensureDeferred
async def test_a_poisoned_keyword_file_loads_without_its_bad_entries(makeBackend,
                                                                     loggedWarnings):
    backend = makeBackend()
    home = keywordFile(backend, "0 $Good\n1 café\n2 bad word\n3 $GOOD\n".encode())
    inbox = await (await backend.login("alice", "alicepw")).open("INBOX", False)
    assert inbox.tracker.keywords == ("$Good",)
    [uid] = inbox.tracker.uids
    assert await inbox.flags([uid]) == {uid: {"$Good"}}
    stored = await inbox.store([uid], ["$new", "$good"], "+")
    assert stored[uid] == {"$Good", "$new"}
    # The bad entries keep their letters: the new keyword is "e", and they stay on disk.
    assert (home / "dovecot-keywords").read_bytes().decode() == (
        "0 $Good\n1 café\n2 bad word\n3 $GOOD\n4 $new\n")
    assert sum("skipping keyword" in w for w in loggedWarnings) == 3


@pytest_twisted.ensureDeferred
async def test_keyword_letters_are_found_whatever_the_case(makeBackend):
    backend = makeBackend()
    home = backend.root / "alice" / "Maildir"
    inbox = await (await backend.login("alice", "alicepw")).open("INBOX", False)
    uid = await inbox.append(b"Subject: k\r\n\r\nk\r\n", ["$Label1"], None)
    await inbox.store([uid], ["$LABEL1", "$label2"], "+")
    await inbox.store([uid], ["$Label2"], "-")
    assert (home / "dovecot-keywords").read_text() == "0 $Label1\n1 $label2\n"
    assert await inbox.flags([uid]) == {uid: {"$Label1"}}
