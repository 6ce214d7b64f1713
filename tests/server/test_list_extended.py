"""
LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154) over the wire,
on both backends, from the RFCs' examples.
"""

import imapclient
import pytest_twisted

from tests.server.clients import inThread, ok, run


def _make(c, names, subscribe=()):
    for name in names:
        ok(c.command(b"c", b'CREATE "' + name + b'"'), b"c")
    for name in subscribe:
        ok(c.command(b"s", b'SUBSCRIBE "' + name + b'"'), b"s")


@pytest_twisted.ensureDeferred
async def test_special_use_comes_from_the_usual_folder_names(anyServer):
    def script(c):
        _make(c, [b"Sent Messages", b"Drafts", b"Deleted Messages", b"Spam", b"Archive",
                  b"Lists"])
        return c.command(b"a", b'LIST "" *')
    assert ok(await run(anyServer, script)) == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Deleted Messages"',
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'* LIST (\\HasNoChildren) "/" "Lists"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent Messages"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Spam"',
    ]


@pytest_twisted.ensureDeferred
async def test_special_use_selection_and_return_options(anyServer):
    # RFC 6154 5.1 and 5.2.
    def script(c):
        _make(c, [b"ToDo", b"Projects", b"Sent", b"Trash", b"Projects/Foo"])
        return (c.command(b"t1", b'LIST "" "%" RETURN (SPECIAL-USE)'),
                c.command(b"t3", b'LIST (SPECIAL-USE) "" "*"'),
                c.command(b"t4", b'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)'))
    plain, selected, both = await run(anyServer, script)
    assert ok(plain, b"t1") == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasChildren) "/" "Projects"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren) "/" "ToDo"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]
    assert ok(selected, b"t3") == ok(both, b"t4") == [
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]


@pytest_twisted.ensureDeferred
async def test_create_with_use_keeps_the_use_through_rename(server):
    # RFC 6154 5.3, on a backend that keeps special use per mailbox (memory).
    def script(c):
        caps = c.command(b"c", b"CAPABILITY")
        made = c.command(b"t1", b"CREATE MyTrash (USE (\\trash))")
        renamed = c.command(b"t2", b"RENAME MyTrash Bin2")
        return caps, made, renamed, c.command(b"t3", b'LIST (SPECIAL-USE) "" *')
    caps, made, renamed, listed = await run(server, script)
    assert b"CREATE-SPECIAL-USE" in ok(caps, b"c")[0].split()
    assert made[-1] == b"t1 OK CREATE completed" and renamed[-1].startswith(b"t2 OK")
    assert ok(listed, b"t3") == [b'* LIST (\\HasNoChildren \\Trash) "/" "Bin2"']


@pytest_twisted.ensureDeferred
async def test_create_with_a_use_the_server_cannot_give_creates_nothing(anyServer):
    def script(c):
        return (c.command(b"t1", b"CREATE Everything (USE (\\All))"),
                c.command(b"t2", b"CREATE Old (USE (\\Archive \\Flagged))"),
                c.command(b"t3", b'LIST "" *'))
    every, old, listed = await run(anyServer, script)
    assert every[-1].startswith(b"t1 NO [USEATTR]"), every
    assert old[-1].startswith(b"t2 NO [USEATTR]"), old
    assert ok(listed, b"t3") == [b'* LIST (\\HasNoChildren) "/" "INBOX"']


@pytest_twisted.ensureDeferred
async def test_maildir_gives_special_use_by_name_only(maildirServer):
    # Dovecot's way: the folder's name says its use; CREATE with USE works for that name.
    def script(c):
        caps = c.command(b"c", b"CAPABILITY")
        return (caps, c.command(b"t1", b"CREATE MyArchive (USE (\\Archive))"),
                c.command(b"t2", b"CREATE Archive (USE (\\Archive))"),
                c.command(b"t3", b'LIST "" *'))
    caps, other, named, listed = await run(maildirServer, script)
    assert b"CREATE-SPECIAL-USE" not in ok(caps, b"c")[0].split()
    assert other[-1].startswith(b"t1 NO [USEATTR]"), other
    assert named[-1] == b"t2 OK CREATE completed"
    assert ok(listed, b"t3") == [b'* LIST (\\HasNoChildren) "/" "INBOX"',
                                 b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"']


@pytest_twisted.ensureDeferred
async def test_subscribed_selection_lists_nonexistent_subscriptions(anyServer):
    # RFC 5258 5, example 2 (on our names).
    def script(c):
        _make(c, [b"Fruit", b"Fruit/Apple", b"Fruit/Banana", b"Tofu", b"Vegetable",
                  b"Vegetable/Broccoli", b"Vegetable/Corn"],
              subscribe=[b"Fruit/Banana", b"Fruit/Peach", b"Vegetable", b"Vegetable/Broccoli"])
        return (c.command(b"A02", b'LIST (SUBSCRIBED) "" "*"'),
                c.command(b"A03", b'LIST () "" "%" RETURN (SUBSCRIBED)'))
    subscribed, returned = await run(anyServer, script)
    assert ok(subscribed, b"A02") == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" "Fruit/Peach"',
        b'* LIST (\\HasChildren \\Subscribed) "/" "Vegetable"',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Vegetable/Broccoli"',
    ]
    assert ok(returned, b"A03") == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasChildren) "/" "Fruit"',
        b'* LIST (\\HasNoChildren) "/" "Tofu"',
        b'* LIST (\\HasChildren \\Subscribed) "/" "Vegetable"',
    ]


@pytest_twisted.ensureDeferred
async def test_recursivematch_says_childinfo(anyServer):
    # RFC 5258 5, example 5.
    def script(c):
        _make(c, [b"Foo", b"Foo/Bar", b"Foo/Baz", b"Moo", b"Moo/Bar", b"Tofu"],
              subscribe=[b"Foo/Bar", b"Moo"])
        return (c.command(b"C06", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'),
                c.command(b"C07", b'LIST (RECURSIVEMATCH) "" "%"'),
                c.command(b"C08", b'LIST (BOGUS) "" "%"'),
                c.command(b"C09", b'LIST "" "%" RETURN (BOGUS)'))
    recursive, alone, bogus, bogusReturn = await run(anyServer, script)
    assert ok(recursive, b"C06") == [
        b'* LIST (\\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))',
        b'* LIST (\\HasChildren \\Subscribed) "/" "Moo"',
    ]
    assert alone[-1].startswith(b"C07 BAD")
    assert bogus[-1].startswith(b"C08 BAD") and bogusReturn[-1].startswith(b"C09 BAD")


@pytest_twisted.ensureDeferred
async def test_several_patterns_list_each_mailbox_once(anyServer):
    def script(c):
        _make(c, [b"Lists", b"Lists/python", b"Lists/twisted", b"Other"])
        return c.command(b"a", b'LIST "" ("INBOX" "Lists/*" "*python")')
    assert ok(await run(anyServer, script)) == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasNoChildren) "/" "Lists/python"',
        b'* LIST (\\HasNoChildren) "/" "Lists/twisted"',
    ]


@pytest_twisted.ensureDeferred
async def test_list_status_gives_unread_counts_in_one_command(anyServer):
    # RFC 5819 3.
    message = b"Subject: hi\r\n\r\nhello\r\n"

    def script(c):
        _make(c, [b"Lists/python"])
        for flags in (b"", b"(\\Seen) ", b""):
            c.send(b"p APPEND Lists/python " + flags + b"{%d+}\r\n" % len(message) + message
                   + b"\r\n")
            ok(c.readUntilTagged(b"p"), b"p")
        return c.command(b"A01", b'LIST "" * RETURN (STATUS (MESSAGES UNSEEN))')
    assert ok(await run(anyServer, script), b"A01") == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* STATUS "INBOX" (MESSAGES 0 UNSEEN 0)',
        b'* LIST (\\HasChildren) "/" "Lists"',
        b'* STATUS "Lists" (MESSAGES 0 UNSEEN 0)',
        b'* LIST (\\HasNoChildren) "/" "Lists/python"',
        b'* STATUS "Lists/python" (MESSAGES 3 UNSEEN 2)',
    ]


@pytest_twisted.ensureDeferred
async def test_list_status_skips_what_cannot_be_selected(server):
    # RFC 5819 2: no STATUS for a \NonExistent or \Noselect name.
    def script(c):
        ok(c.command(b"s", b"SUBSCRIBE Gone"), b"s")
        return c.command(b"a", b'LIST (SUBSCRIBED) "" * RETURN (STATUS (MESSAGES))')
    assert ok(await run(server, script)) == [
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" "Gone"']


@pytest_twisted.ensureDeferred
async def test_imapclient_finds_a_configured_sent_folder_by_its_attribute(serve):
    # A name no client's heuristics know: only the \Sent attribute can tell.
    served = serve(specialUse={"Outbox": "\\Sent", "Papierkorb": "\\Trash"})

    def go():
        with imapclient.IMAPClient(served.host, port=served.port, ssl=False,
                                   timeout=10) as client:
            client.login("alice", "alicepw")
            for name in ("Outbox", "Papierkorb", "Sent Items"):
                client.create_folder(name)
            return (client.capabilities(), client.find_special_folder(imapclient.imapclient.SENT),
                    client.find_special_folder(imapclient.imapclient.TRASH))
    caps, sent, trash = await inThread(go)
    assert b"SPECIAL-USE" in caps and b"LIST-STATUS" in caps and b"LIST-EXTENDED" in caps
    assert (sent, trash) == ("Outbox", "Papierkorb")
