"""
The grammars the extensions add: LIST-EXTENDED and LIST-STATUS (RFC 5258, 5819),
CREATE ... USE (RFC 6154), SEARCH RETURN and $ (RFC 4731, 5182), SORT and THREAD
(RFC 5256, 5957, 5267), APPEND with MULTIAPPEND, literal8 and CATENATE (RFC 3502, 3516,
4469), BINARY fetch items (RFC 3516), and the IMAP URLs CATENATE takes (RFC 5092).
"""

import pytest

from idlemail.wire.command import (
    AppendMessage,
    CatenatePart,
    CreateArgs,
    FetchAttribute,
    ListArgs,
    ParseError,
    SearchKey,
    SequenceSet,
    SortCriterion,
    parseCommand,
)
from idlemail.wire.imapurl import BadURL, MessageURL, parseMessageURL
from idlemail.wire.message import Section


def test_list_extended_options_and_patterns():
    args = parseCommand(b'a LIST (subscribed RECURSIVEMATCH) "" ("INBOX" Lists/%) '
                        b"RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)").args
    assert args == ListArgs(b"", (b"INBOX", b"Lists/%"),
                            frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
                            frozenset({"CHILDREN", "STATUS", "SPECIAL-USE"}),
                            ("MESSAGES", "UNSEEN"), True)
    assert parseCommand(b'a LIST () "" %').args.extended
    assert not parseCommand(b'a LIST "" %').args.extended


@pytest.mark.parametrize("line", [
    b'a LIST (RECURSIVEMATCH) "" %',  # RFC 5258 3.1: only with another option
    b'a LIST (REMOTE RECURSIVEMATCH) "" %',
    b'a LIST (FOO) "" %',
    b'a LIST "" % RETURN (FOO)',
    b'a LIST "" % RETURN (STATUS ())',
    b'a LIST "" ()',
    b'a LSUB "" ("a" "b")',  # LSUB has no extended syntax
])
def test_bad_list_commands(line):
    with pytest.raises(ParseError):
        parseCommand(line)


def test_create_with_use():
    assert parseCommand(b"a CREATE Arc (USE (\\archive \\Sent))").args == CreateArgs(
        b"Arc", ("\\Archive", "\\Sent"))
    assert parseCommand(b"a CREATE Arc").args == CreateArgs(b"Arc")
    with pytest.raises(ParseError):
        parseCommand(b"a CREATE Arc (COLOUR (red))")


def test_search_return_options_and_saved_result():
    args = parseCommand(b"a UID SEARCH RETURN (min SAVE) CHARSET UTF-8 UID $ NOT $").args
    assert args.returns == ("MIN", "SAVE") and args.charset == "UTF-8"
    saved = SequenceSet((), saved=True)
    assert args.criteria == SearchKey("AND", (SearchKey("UID", (saved,)),
                                              SearchKey("NOT", (SearchKey("SEQ", (saved,)),))))
    assert parseCommand(b"a SEARCH RETURN () ALL").args.returns == ()
    assert parseCommand(b"a SEARCH ALL").args.returns is None
    assert parseCommand(b"a FETCH $ FLAGS").args.sequenceSet == saved
    for line in (b"a SEARCH RETURN (PARTIAL) ALL", b"a FETCH $,1 FLAGS", b"a FETCH 1:$ FLAGS"):
        with pytest.raises(ParseError):
            parseCommand(line)


def test_sort_and_thread():
    cmd = parseCommand(b"a UID SORT RETURN (COUNT) (REVERSE date SUBJECT displayfrom) utf-8 "
                       b"UNSEEN")
    assert cmd.uid and cmd.args.returns == ("COUNT",) and cmd.args.charset == "UTF-8"
    assert cmd.args.criteria == (SortCriterion("DATE", True), SortCriterion("SUBJECT"),
                                 SortCriterion("DISPLAYFROM"))
    thread = parseCommand(b"a THREAD references US-ASCII SINCE 1-Feb-2024").args
    assert (thread.algorithm, thread.charset) == ("REFERENCES", "US-ASCII")
    for line in (b"a SORT (DATE) ALL", b"a SORT () UTF-8 ALL", b"a SORT (REVERSE) UTF-8 ALL",
                 b"a SORT RETURN (SAVE) (DATE) UTF-8 ALL", b"a THREAD REFS UTF-8 ALL",
                 b"a THREAD REFERENCES UTF-8"):
        with pytest.raises(ParseError):
            parseCommand(line)


def test_append_messages_literal8_and_catenate():
    args = parseCommand(b'a APPEND Box (\\Seen) {2}\r\nhi ~{3}\r\n\x00\x01\x02 '
                        b'"07-Feb-1994 21:52:25 -0800" CATENATE (URL "/Box/;UID=1" '
                        b"TEXT {1+}\r\nx)").args
    first, second, third = args.messages
    assert first == AppendMessage(("\\Seen",), None, b"hi")
    assert second == AppendMessage((), None, b"\x00\x01\x02", binary=True)
    assert third.catenate == (CatenatePart("URL", b"/Box/;UID=1"), CatenatePart("TEXT", b"x"))
    for line in (b"a APPEND Box", b"a APPEND Box CATENATE ()", b"a APPEND Box CATENATE (X y)",
                 b"a LOGIN ~{1}\r\nx y"):  # a literal8 only where RFC 3516 allows one
        with pytest.raises(ParseError):
            parseCommand(line)


def test_binary_fetch_items():
    atts = parseCommand(b"a FETCH 1 (BINARY[1.2]<0.10> BINARY.PEEK[] BINARY.SIZE[3])").args
    assert atts.attributes == (FetchAttribute("BINARY[]", Section((1, 2)), False, (0, 10)),
                               FetchAttribute("BINARY[]", Section(), True),
                               FetchAttribute("BINARY.SIZE", Section((3,))))
    for line in (b"a FETCH 1 BINARY[HEADER]", b"a FETCH 1 BINARY.SIZE[1]<0.1>",
                 b"a FETCH 1 BINARY", b"a FETCH 1 BINARY[0]"):
        with pytest.raises(ParseError):
            parseCommand(line)


def test_imap_urls():
    assert parseMessageURL(b"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME") == \
        MessageURL("Drafts", 20, 385759045, Section((1,), "MIME"))
    assert parseMessageURL(b"imap://alice@mail.example.org/Lists%2Fpy%20thon/;UID=3/;"
                           b"PARTIAL=5.10") == MessageURL("Lists/py thon", 3, None, Section(),
                                                          (5, 10), "alice")
    for url in (b"/INBOX", b"/INBOX/;UID=0", b"http://x/INBOX/;UID=1",
                b"/INBOX/;UID=1/;SECTION=HEADER.FIELDS (", b"/INBOX/;UID=1/;URLAUTH=x",
                b"/caf\xc3\xa9/;UID=1"):
        with pytest.raises(BadURL):
            parseMessageURL(url)
