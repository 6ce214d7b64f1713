"""
UIDVALIDITY on disk (RFC 3501 2.3.1.1): a bare Maildir keeps the value it was first given,
and the per-user high-water mark in dovecot-uidvalidity is what makes values unique.
"""

import pytest_twisted

from idlemail.backends.maildir.backend import createMaildir


@pytest_twisted.ensureDeferred
async def test_a_bare_maildir_answers_the_same_uidvalidity_every_time(makeBackend, tmp_path):
    home = createMaildir(tmp_path / "mail", "alice")  # only cur/ new/ tmp/, as an MDA makes
    seen = []
    for _ in range(3):
        backend = makeBackend()  # as after a restart: nothing kept in memory
        account = await backend.login("alice", "alicepw")
        status = await account.status("INBOX")
        inbox = await account.open("INBOX", True)
        seen.append((status.uidvalidity, inbox.uidValidity))
        inbox.close()
        await backend.close()
    assert seen[0][0] > 0 and seen == [seen[0]] * 3
    assert (home / "dovecot-uidlist").read_text().startswith("3 V%d " % seen[0][0])


@pytest_twisted.ensureDeferred
async def test_the_high_water_mark_in_dovecot_uidvalidity_is_respected(makeBackend):
    backend = makeBackend()
    account = await backend.login("alice", "alicepw")
    home = backend.root / "alice" / "Maildir"
    (home / "dovecot-uidvalidity").write_text("%08x" % 4000000000)  # as Dovecot writes it
    await account.create("New")
    box = await account.open("New", False)
    assert box.uidValidity == 4000000001
    assert (home / "dovecot-uidvalidity").read_text() == "%08x" % 4000000001
