"""
Parsing client commands (RFC 3501 section 9).
"""

from datetime import datetime, timedelta, timezone

import pytest

from idlemail.wire.command import (
    AppendArgs,
    AppendMessage,
    FetchArgs,
    FetchAttribute,
    ListArgs,
    LoginArgs,
    ParseError,
    SearchArgs,
    SearchKey,
    SequenceSet,
    StatusArgs,
    StoreArgs,
    parseCommand,
    parseTag,
)
from idlemail.wire.message import Section


def test_simple_commands():
    assert parseCommand(b"a1 noop").name == "NOOP"
    assert parseCommand(b"a1 NOOP").tag == "a1"


def test_login_with_quoted_and_literal_strings():
    cmd = parseCommand(b'x LOGIN "al\\"ice" {5}\r\np w d')
    assert cmd.args == LoginArgs(b'al"ice', b"p w d")
    assert parseCommand(b"x LOGIN alice {3+}\r\npwd").args == LoginArgs(b"alice", b"pwd")


def test_sequence_sets():
    cmd = parseCommand(b"t FETCH 1:3,5,7:*,* FLAGS")
    seqs = cmd.args.sequenceSet
    assert seqs == SequenceSet(((1, 3), (5, 5), (7, None), (None, None)))
    assert list(seqs.resolve(9)) == [(1, 3), (5, 5), (7, 9), (9, 9)]
    assert seqs.contains(8, 9) and not seqs.contains(4, 9)
    assert list(SequenceSet(((5, 2),)).resolve(9)) == [(2, 5)]


def test_fetch_items_and_macros():
    cmd = parseCommand(b"t UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100> BODY[1.2.MIME] BODY)")
    assert cmd.uid
    assert cmd.args.attributes == (
        FetchAttribute("FLAGS"),
        FetchAttribute("BODY[]", Section((), "HEADER.FIELDS", ("FROM", "SUBJECT")), True, (0, 100)),
        FetchAttribute("BODY[]", Section((1, 2), "MIME")),
        FetchAttribute("BODY"),
    )
    assert [a.name for a in parseCommand(b"t FETCH 1 FAST").args.attributes] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert parseCommand(b"t FETCH 1 BODY[]").args == FetchArgs(SequenceSet(((1, 1),)), (FetchAttribute("BODY[]", Section()),))


def test_store():
    cmd = parseCommand(b"t STORE 2 +FLAGS.SILENT (\\Seen $Label)")
    assert cmd.args == StoreArgs(SequenceSet(((2, 2),)), "+", True, ("\\Seen", "$Label"))
    args = parseCommand(b"t STORE 1 FLAGS \\Deleted").args
    assert (args.mode, args.silent, args.flags) == ("", False, ("\\Deleted",))


def test_append_with_flags_and_date():
    cmd = parseCommand(b't APPEND INBOX (\\Seen) "07-Feb-1994 21:52:25 -0800" {5}\r\nhello')
    assert cmd.args == AppendArgs(b"INBOX", (AppendMessage(
        ("\\Seen",), datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8))),
        b"hello"),))
    assert parseCommand(b"t APPEND Drafts {2}\r\nhi").args == AppendArgs(
        b"Drafts", (AppendMessage((), None, b"hi"),))


def test_search_criteria():
    cmd = parseCommand(b'T SEARCH CHARSET UTF-8 OR FROM alice (UNSEEN SINCE 1-Feb-2024) NOT 2:4 UID 5:*')
    charset, key = cmd.args.charset, cmd.args.criteria
    assert charset == "UTF-8"
    assert key.op == "AND"
    first, second, third = key.args
    assert first == SearchKey("OR", (SearchKey("HEADER", ("FROM", "alice")),
                                     SearchKey("AND", (SearchKey("FLAG", ("\\Seen", False)),
                                                       SearchKey("SINCE", (datetime(2024, 2, 1, tzinfo=timezone.utc),))))))
    assert second.op == "NOT" and second.args[0].op == "SEQ"
    assert third.op == "UID"


def test_list_patterns_allow_wildcards():
    assert parseCommand(b'x LIST "" *').args == ListArgs(b"", (b"*",))
    assert parseCommand(b'x LIST "" Lists/%').args == ListArgs(b"", (b"Lists/%",))


def test_status_items():
    assert parseCommand(b"x STATUS INBOX (MESSAGES UIDNEXT)").args == StatusArgs(b"INBOX", ("MESSAGES", "UIDNEXT"))


@pytest.mark.parametrize("line,fragment", [
    (b"", "Missing tag"),
    (b"a1", "Expected a space"),
    (b"a1 FROB", "Unknown command FROB"),
    (b"a1 NOOP extra", "Unexpected extra"),
    (b"a1 FETCH 0 FLAGS", "start at 1"),
    (b"a1 FETCH 1 (FLAGS", "Expected"),
    (b"a1 FETCH 1 BODY[NONSENSE]", "Unknown section"),
    (b'a1 LOGIN "unterminated', "Unterminated"),
    (b"a1 LOGIN a {10}\r\nshort", "shorter"),
    (b"a1 SEARCH FROBNICATE", "Unknown search key"),
    (b"a1 UID NOOP", "not a command"),
    (b"a1 STATUS INBOX (BOGUS)", "Unknown status item"),
    (b"a1 SEARCH " + b"NOT " * 60 + b"ALL", "too deep"),
])
def test_bad_commands_name_the_problem(line, fragment):
    with pytest.raises(ParseError) as e:
        parseCommand(line)
    assert fragment in str(e.value)


def test_the_tag_survives_a_parse_error():
    with pytest.raises(ParseError) as e:
        parseCommand(b"abc FROB")
    assert e.value.tag == "abc"
    assert parseTag(b"abc FROB") == "abc"
    assert parseTag(b"garbage") == "*"


def test_search_carries_any_charset_for_the_handler_to_refuse():
    # RFC 3501 6.4.4: an unsupported charset is a NO [BADCHARSET], so it must parse.
    assert parseCommand(b"a1 SEARCH CHARSET koi8-r ALL").args == SearchArgs("KOI8-R", SearchKey("ALL"))
