"""
Commands over real TCP with exact responses: login, mailboxes, messages, limits.
"""

import base64

import pytest_twisted

from tests.server.clients import RawClient, inThread, ok, run

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
           b"Subject: Hello there\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nBody text.\r\n")


@pytest_twisted.ensureDeferred
async def test_login_failures_and_authenticate_plain(server):
    def go():
        c = RawClient(server.host, server.port)
        bad = c.command(b"a", b"LOGIN alice wrong")
        plain = base64.b64encode(b"\0alice\0alicepw")
        good = c.command(b"b", b"AUTHENTICATE PLAIN " + plain)
        c2 = RawClient(server.host, server.port)
        c2.send(b"c AUTHENTICATE PLAIN\r\n")
        prompt = c2.readline()
        c2.send(base64.b64encode(b"\0bob\0bobpw") + b"\r\n")
        cont = c2.readUntilTagged(b"c")
        again = c2.command(b"d", b"LOGIN bob bobpw")
        return bad, good, prompt, cont, again
    bad, good, prompt, cont, again = await inThread(go)
    assert bad == [b"a NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert good[-1].startswith(b"b OK [CAPABILITY IMAP4rev1")
    assert prompt == b"+ "
    assert cont[-1].startswith(b"c OK")
    assert again[-1].startswith(b"d BAD")  # already logged in


@pytest_twisted.ensureDeferred
async def test_mailbox_management_and_list(server):
    def script(c):
        out = {}
        out["create"] = c.command(b"a", b"CREATE Lists/python")
        out["create-again"] = c.command(b"a", b"CREATE Lists/python")
        out["create-utf7"] = c.command(b"a", b"CREATE Entw&APw-rfe")
        out["list"] = c.command(b"a", b'LIST "" *')
        out["list%"] = c.command(b"a", b'LIST "" %')
        out["delim"] = c.command(b"a", b'LIST "" ""')
        out["rename"] = c.command(b"a", b"RENAME Lists Groups")
        out["sub"] = c.command(b"a", b"SUBSCRIBE Groups/python")
        out["lsub"] = c.command(b"a", b'LSUB "" *')
        out["status"] = c.command(b"a", b"STATUS Groups/python (MESSAGES UIDNEXT UNSEEN)")
        out["delete"] = c.command(b"a", b"DELETE Groups/python")
        out["delete-inbox"] = c.command(b"a", b"DELETE inbox")
        out["select-missing"] = c.command(b"a", b"SELECT Nowhere")
        return out
    out = await run(server, script)
    ok(out["create"])
    assert out["create-again"] == [b"a NO [ALREADYEXISTS] Mailbox already exists: Lists/python"]
    ok(out["create-utf7"])
    listed = ok(out["list"])
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' == listed[0]
    assert b'* LIST (\\HasChildren) "/" "Lists"' in listed
    assert b'* LIST (\\HasNoChildren) "/" "Lists/python"' in listed
    assert b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"' in listed
    assert b'* LIST (\\HasNoChildren) "/" "Lists/python"' not in ok(out["list%"])
    assert ok(out["delim"]) == [b'* LIST (\\Noselect) "/" ""']
    ok(out["rename"])
    assert ok(out["lsub"]) == [b'* LSUB () "/" "Groups/python"']
    assert ok(out["status"]) == [b'* STATUS "Groups/python" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)']
    ok(out["delete"])
    assert out["delete-inbox"][-1].startswith(b"a NO")
    assert out["select-missing"] == [b"a NO [NONEXISTENT] Mailbox doesn't exist: Nowhere"]


@pytest_twisted.ensureDeferred
async def test_select_reports_what_rfc3501_requires(server):
    server.backend.deliver("alice", MESSAGE, flags=["\\Seen"])
    server.backend.deliver("alice", MESSAGE)

    def script(c):
        return c.command(b"a", b"SELECT INBOX"), c.command(b"b", b"EXAMINE INBOX")
    select, examine = await run(server, script)
    untagged = ok(select)
    assert untagged[0].startswith(b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen")
    assert b"* 2 EXISTS" in untagged and b"* 2 RECENT" in untagged
    assert b"* OK [UNSEEN 2] First unseen" in untagged
    assert any(line.startswith(b"* OK [UIDVALIDITY ") for line in untagged)
    assert b"* OK [UIDNEXT 3] Predicted next UID" in untagged
    assert any(line.startswith(b"* OK [PERMANENTFLAGS (") for line in untagged)
    assert select[-1] == b"a OK [READ-WRITE] SELECT completed"
    assert examine[-1] == b"b OK [READ-ONLY] EXAMINE completed"


@pytest_twisted.ensureDeferred
async def test_fetch_store_search_copy_move(server):
    for n in range(3):
        server.backend.deliver("alice", MESSAGE.replace(b"Hello", b"Hello %d" % n))

    def script(c):
        out = {}
        c.command(b"s", b"SELECT INBOX")
        c.command(b"c", b"CREATE Archive")
        out["fetch"] = c.command(b"a", b"FETCH 2 (UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out["partial"] = c.command(b"a", b"UID FETCH 3 (BODY.PEEK[TEXT]<0.4>)")
        out["store"] = c.command(b"a", b"STORE 1:2 +FLAGS (\\Flagged)")
        out["silent"] = c.command(b"a", b"STORE 1 -FLAGS.SILENT (\\Flagged)")
        out["search"] = c.command(b"a", b"SEARCH FLAGGED")
        out["uidsearch"] = c.command(b"a", b'UID SEARCH SUBJECT "hello 2"')
        out["searchnot"] = c.command(b"a", b"SEARCH NOT 1:2")
        out["copy"] = c.command(b"a", b"COPY 1:2 Archive")
        out["copy-missing"] = c.command(b"a", b"COPY 1 Nowhere")
        out["move"] = c.command(b"a", b"UID MOVE 3 Archive")
        out["after"] = c.command(b"a", b"FETCH 1:* (UID)")
        out["badseq"] = c.command(b"a", b"FETCH 9 (UID)")
        out["status"] = c.command(b"a", b"STATUS Archive (MESSAGES)")
        return out
    out = await run(server, script)
    fetched = ok(out["fetch"])
    size = len(MESSAGE.replace(b"Hello", b"Hello 1"))
    assert fetched[0].startswith(b"* 2 FETCH (UID 2 RFC822.SIZE %d INTERNALDATE \"" % size)
    assert fetched[0].endswith(b"BODY[HEADER.FIELDS (SUBJECT)] {26}")
    assert ok(out["partial"])[0] == b"* 3 FETCH (UID 3 BODY[TEXT]<0> {4}"
    assert ok(out["store"]) == [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))",
                                b"* 2 FETCH (FLAGS (\\Flagged \\Recent))"]
    assert ok(out["silent"]) == []
    assert ok(out["search"]) == [b"* SEARCH 2"]
    assert ok(out["uidsearch"]) == [b"* SEARCH 3"]
    assert ok(out["searchnot"]) == [b"* SEARCH 3"]
    assert out["copy"][-1].startswith(b"a OK [COPYUID ") and out["copy"][-1].split()[4:6] == [b"1:2", b"1:2]"]
    assert out["copy-missing"][-1].startswith(b"a NO [TRYCREATE]")
    moved = ok(out["move"])
    assert moved[0].startswith(b"* OK [COPYUID ") and moved[0].split()[4:6] == [b"3", b"3]"]
    assert moved[1] == b"* 3 EXPUNGE"
    assert ok(out["after"]) == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)"]
    assert out["badseq"][-1].startswith(b"a BAD")
    assert ok(out["status"]) == [b'* STATUS "Archive" (MESSAGES 3)']


@pytest_twisted.ensureDeferred
async def test_no_expunge_is_sent_during_fetch_store_or_search(server):
    for _ in range(3):
        server.backend.deliver("alice", MESSAGE)

    def go():
        a = RawClient(server.host, server.port)
        a.login()
        a.command(b"s", b"SELECT INBOX")
        b = RawClient(server.host, server.port)
        b.login()
        b.command(b"s", b"SELECT INBOX")
        b.command(b"b", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.command(b"b", b"EXPUNGE")
        fetch = a.command(b"f", b"FETCH 1:3 (UID)")
        search = a.command(b"g", b"SEARCH ALL")
        noop = a.command(b"n", b"NOOP")
        after = a.command(b"h", b"FETCH 1:* (UID)")
        return fetch, search, noop, after
    fetch, search, noop, after = await inThread(go)
    assert not any(line.endswith(b" EXPUNGE") for line in fetch + search), (fetch, search)
    # UID 1 is gone but still number 1 until told; FETCH says what it has.
    assert b"* 2 FETCH (UID 2)" in fetch and b"* 3 FETCH (UID 3)" in fetch
    assert fetch[-1].startswith(b"f OK [EXPUNGEISSUED]")
    assert ok(search, b"g") == [b"* SEARCH 2 3"]
    assert b"* 1 EXPUNGE" in noop
    assert ok(after, b"h") == [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"]


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_are_answered_in_order(server):
    def script(c):
        c.send(b"".join(b"p%d NOOP\r\n" % i for i in range(200)) + b"q CAPABILITY\r\n")
        lines = c.readUntilTagged(b"q")
        return [l.split()[0] for l in lines if not l.startswith(b"*")]
    tags = await run(server, script)
    assert tags == [b"p%d" % i for i in range(200)] + [b"q"]


@pytest_twisted.ensureDeferred
async def test_literals_synchronizing_and_too_big(server):
    server.factory.appendLimit = 100

    def script(c):
        c.send(b"a APPEND INBOX {11}\r\n")
        plus = c.readline()
        c.send(b"Subject: x\r\r\n")
        appended = c.readUntilTagged(b"a")
        c.send(b"b APPEND INBOX {1000}\r\n")
        refused = c.readline()
        c.send(b"c APPEND INBOX {1000+}\r\n" + b"x" * 1000 + b"\r\n")
        refusedPlus = c.readUntilTagged(b"c")
        after = c.command(b"d", b"STATUS INBOX (MESSAGES)")
        return plus, appended, refused, refusedPlus, after
    plus, appended, refused, refusedPlus, after = await run(server, script)
    assert plus.startswith(b"+ ")
    assert appended[-1].startswith(b"a OK [APPENDUID")
    assert refused.startswith(b"b NO [TOOBIG]")
    assert refusedPlus[-1].startswith(b"c NO [TOOBIG]")
    assert ok(after, b"d") == [b'* STATUS "INBOX" (MESSAGES 1)']


@pytest_twisted.ensureDeferred
async def test_a_line_too_long_is_refused_and_closed(server):
    def go():
        c = RawClient(server.host, server.port)
        c.send(b"a " + b"x" * (server.factory.maxLineLength + 10))
        return c.readline()
    assert (await inThread(go)).startswith(b"* BYE [TOOBIG]")


@pytest_twisted.ensureDeferred
async def test_bad_commands_get_bad_and_the_session_goes_on(server):
    def script(c):
        return [c.command(b"a", line) for line in
                (b"FETCH 1 FLAGS", b"FROB", b"SELECT", b"STORE 1 FLAGS (\\Seen")] + [
                c.command(b"z", b"NOOP")]
    *bad, noop = await run(server, script)
    assert [r[-1][:5] for r in bad] == [b"a BAD"] * 4
    assert noop[-1].startswith(b"z OK")


@pytest_twisted.ensureDeferred
async def test_examine_is_read_only(server):
    server.backend.deliver("alice", MESSAGE)

    def script(c):
        c.command(b"e", b"EXAMINE INBOX")
        store = c.command(b"a", b"STORE 1 +FLAGS (\\Seen)")
        fetch = c.command(b"b", b"FETCH 1 (BODY[] FLAGS)")
        return store, fetch
    store, fetch = await run(server, script)
    assert store[-1].startswith(b"a NO [READ-ONLY]")
    assert b"\\Seen" not in fetch[0]
