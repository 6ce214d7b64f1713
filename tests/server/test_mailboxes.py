"""
Mailbox names, LIST and LSUB over the wire, on both backends (RFC 3501 5.1, 6.3.8,
6.3.9), and UIDVALIDITY across a delete and re-create (2.3.1.1).
"""

import pytest_twisted

from tests.server.clients import ok, run


@pytest_twisted.ensureDeferred
async def test_lsub_percent_lists_unsubscribed_parents_as_noselect(anyServer):
    def script(c):
        for name in (b"box/test", b"box/test2/test", b"box/test3/test3"):
            ok(c.command(b"c", b"CREATE " + name), b"c")
        for name in (b"box/test", b"box/test2/test", b"box/test3/test3"):
            ok(c.command(b"s", b"SUBSCRIBE " + name), b"s")
        return (c.command(b"a", b'LSUB "" box/%'), c.command(b"a", b'LSUB "" *test'),
                c.command(b"a", b'LSUB "" box/*'))
    percent, star, everything = await run(anyServer, script)
    assert ok(percent) == [b'* LSUB () "/" "box/test"',
                           b'* LSUB (\\Noselect) "/" "box/test2"',
                           b'* LSUB (\\Noselect) "/" "box/test3"']
    assert ok(star) == [b'* LSUB () "/" "box/test"', b'* LSUB () "/" "box/test2/test"']
    assert ok(everything) == [b'* LSUB () "/" "box/test"', b'* LSUB () "/" "box/test2/test"',
                              b'* LSUB () "/" "box/test3/test3"']


@pytest_twisted.ensureDeferred
async def test_patterns_that_are_not_modified_utf7_match_as_spelled_and_8bit_is_bad(anyServer):
    def script(c):
        ok(c.command(b"c", b"CREATE foo"), b"c")
        return [c.command(b"a", line) for line in (
            b'LIST "" foo&bar%', b'LIST foo&bar "*"', b"LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*",
            b'LIST "" "caf\xe9*"', b'LIST "caf\xe9" *', b'LSUB "" {5}\r\nf\xe9o%*',
        )] + [c.command(b"z", b'LIST "" fo%')]
    *answers, after = await run(anyServer, script)
    assert [ok(a) for a in answers[:3]] == [[], [], []]
    assert [a[-1][:5] for a in answers[3:]] == [b"a BAD"] * 3, answers
    assert ok(after, b"z") == [b'* LIST (\\HasNoChildren) "/" "foo"']


@pytest_twisted.ensureDeferred
async def test_names_that_are_not_canonical_modified_utf7_are_refused_with_no(anyServer):
    def script(c):
        refused = [c.command(b"a", line) for line in (
            b"CREATE &AGEAYgBj-", b"CREATE foo&bar", b"CREATE Entw&APw-rfe&-&AGE",
            b"SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", b'CREATE {4+}\r\nf\xe9o\xff',
            b"RENAME INBOX &AGEAYgBj-", b"STATUS &Jjo (MESSAGES)")]
        accepted = [c.command(b"b", line) for line in (
            b"CREATE Entw&APw-rfe", b'CREATE "a&-b"', b"SELECT entw&APw-rfe")]
        listed = c.command(b"l", b'LIST "" *')
        return refused, accepted, listed
    refused, accepted, listed = await run(anyServer, script)
    assert [r[-1][:4] for r in refused] == [b"a NO"] * 7, refused
    assert [r[-1][:4] for r in accepted] == [b"b OK", b"b OK", b"b NO"], accepted
    names = [line.rsplit(b" ", 1)[1] for line in ok(listed, b"l")]
    assert names == [b'"INBOX"', b'"Entw&APw-rfe"', b'"a&-b"']


@pytest_twisted.ensureDeferred
async def test_overlong_names_are_refused_with_limit(anyServer):
    def script(c):
        return [c.command(b"a", line) for line in (
            b"CREATE " + b"a" * 300, b"CREATE " + b"/".join([b"x"] * 100),
            b"SELECT " + b"b" * 300, b"RENAME INBOX " + b"c" * 300)] + [
            c.command(b"z", b"CREATE " + b"d" * 200)]
    *refused, fine = await run(anyServer, script)
    assert [r[-1][:12] for r in refused] == [b"a NO [LIMIT]"] * 4, refused
    ok(fine, b"z")


@pytest_twisted.ensureDeferred
async def test_a_thousand_stars_match_at_once(anyServer):
    def script(c):
        c.command(b"c", b"CREATE " + b"a" * 60)
        c.command(b"c", b"CREATE " + b"/".join([b"x"] * 30))
        return (c.command(b"a", b'LIST "" "' + b"*" * 1000 + b'y"'),
                c.command(b"a", b'LIST "" "' + b"*%" * 500 + b'x"'))
    none, deep = await run(anyServer, script)
    assert ok(none) == []
    assert len(ok(deep)) == 30  # x, x/x, ... every level ends in x


@pytest_twisted.ensureDeferred
async def test_a_mailbox_created_again_has_a_greater_uidvalidity(anyServer):
    def script(c):
        seen = []
        for _ in range(3):
            ok(c.command(b"c", b"CREATE Again"), b"c")
            ok(c.command(b"c", b"APPEND Again {1+}\r\nx"), b"c")
            status = ok(c.command(b"s", b"STATUS Again (UIDVALIDITY)"), b"s")[0]
            selected = ok(c.command(b"s", b"SELECT Again"), b"s")
            ok(c.command(b"u", b"UNSELECT"), b"u")
            ok(c.command(b"d", b"DELETE Again"), b"d")
            seen.append((status, [line for line in selected if b"UIDVALIDITY" in line]))
        return seen
    seen = await run(anyServer, script)
    values = [int(status.split(b"UIDVALIDITY ")[1].rstrip(b")")) for status, _ in seen]
    assert values[0] > 0 and values == sorted(set(values)), values
    for value, (_, selected) in zip(values, seen):
        assert selected == [b"* OK [UIDVALIDITY %d] UIDs valid" % value]
