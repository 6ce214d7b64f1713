"""
RFC 5322 address lists: mailboxes, groups, source routes, comments and quoting.
"""

import pytest

from idlemail.wire import addresses
from idlemail.wire.addresses import Group, Mailbox, parseAddressList


def test_plain_and_named_mailboxes():
    assert parseAddressList('bob@example.org, "Carol C" <carol@example.net>') == [
        Mailbox(None, None, "bob", "example.org"),
        Mailbox("Carol C", None, "carol", "example.net"),
    ]


def test_groups_keep_their_members_and_an_empty_group_is_a_group():
    # RFC 5322 3.4: group = display-name ":" [group-list] ";"
    assert parseAddressList("group: a@b, c@d;, g2: e@f;") == [
        Group("group", (Mailbox(None, None, "a", "b"), Mailbox(None, None, "c", "d"))),
        Group("g2", (Mailbox(None, None, "e", "f"),)),
    ]
    assert parseAddressList("undisclosed-recipients:;") == [Group("undisclosed-recipients", ())]


def test_rfc5322_appendix_a_1_3_group_among_mailboxes():
    items = parseAddressList('A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, '
                             'Mary <mary@x.test>')
    assert items == [
        Group("A Group", (Mailbox("Ed Jones", None, "c", "a.test"),
                          Mailbox(None, None, "joe", "where.test"),
                          Mailbox("John", None, "jdoe", "one.test"))),
        Mailbox("Mary", None, "mary", "x.test"),
    ]


def test_a_group_without_its_semicolon_ends_with_the_header():
    assert parseAddressList("team: a@b") == [Group("team", (Mailbox(None, None, "a", "b"),))]


def test_source_route_fills_the_route():
    # RFC 5322 4.4 obs-route: "@route1,@route2:" before the addr-spec.
    assert parseAddressList("<@route1,@route2:user@domain>") == [
        Mailbox(None, "@route1,@route2", "user", "domain")]
    assert parseAddressList("Someone <@relay.test:who@where.test>, x@y") == [
        Mailbox("Someone", "@relay.test", "who", "where.test"), Mailbox(None, None, "x", "y")]


def test_comments_are_dropped_from_the_address_parts():
    # RFC 5322 A.5: comments may appear anywhere CFWS may.
    assert parseAddressList("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>") == [
        Mailbox("Pete", None, "pete", "silly.test")]
    assert parseAddressList("<user-from (comment)@ (comment) domain.org>") == [
        Mailbox(None, None, "user-from", "domain.org")]


def test_a_comment_after_a_bare_address_is_its_display_name():
    assert parseAddressList("user@domain (Real Name)") == [
        Mailbox("Real Name", None, "user", "domain")]
    assert parseAddressList("x@y (a (nested) comment)") == [
        Mailbox("a (nested) comment", None, "x", "y")]


def test_display_names_are_raw_but_unquoted():
    items = parseAddressList('=?utf-8?q?caf=C3=A9?= <c@x>, "Giant; \\"Big\\" Box" <s@x>, '
                             "John Q. Public <jqp@x>")
    assert [m.name for m in items] == ["=?utf-8?q?caf=C3=A9?=", 'Giant; "Big" Box',
                                       "John Q. Public"]


def test_local_parts_and_domains():
    assert parseAddressList('"john doe"@example.org') == [
        Mailbox(None, None, '"john doe"', "example.org")]
    assert parseAddressList("john . doe @ example . org") == [
        Mailbox(None, None, "john.doe", "example.org")]
    assert parseAddressList("a@[192.0.2.1]") == [Mailbox(None, None, "a", "[192.0.2.1]")]
    assert parseAddressList("postmaster") == [Mailbox(None, None, "postmaster", None)]
    assert parseAddressList("Alice Example alice@example.org") == [
        Mailbox("Alice Example", None, "alice", "example.org")]


@pytest.mark.parametrize("junk", ["", "<>", ",,,", "(", '"', "\\", "@", ":", ";", ">", "<",
                                  '"unterminated <a@b', "(unterminated a@b", "a@b (c"])
def test_junk_never_raises(junk):
    for item in parseAddressList(junk):
        assert isinstance(item, (Mailbox, Group))


def test_mailbox_address_joins_local_part_and_domain():
    assert Mailbox(None, None, "a", "b").address == "a@b"
    assert Mailbox(None, None, "postmaster", None).address == "postmaster"


def test_a_long_header_is_parsed_whole():
    many = ", ".join(f"User {i} <user{i}@example.org>" for i in range(10_000))
    items = parseAddressList(many)
    assert len(items) == 10_000
    assert items[-1] == Mailbox("User 9999", None, "user9999", "example.org")


def test_the_token_cap_bounds_the_work(monkeypatch):
    monkeypatch.setattr(addresses, "MAX_TOKENS", 100)
    # "a@b," is two tokens: past the cap the rest of the header is not looked at.
    assert len(parseAddressList("a@b," * 1000)) == 50
    assert parseAddressList("<>" * 1000) == []
