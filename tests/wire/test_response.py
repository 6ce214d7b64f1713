import pytest

from idlemail.wire import response as R


@pytest.mark.parametrize("line, literals, expected", [
    (b"A1 OK [READ-WRITE] SELECT completed", [], R.Tagged("A1", "OK", ("READ-WRITE",), "SELECT completed")),
    (b"A2 NO [AUTHENTICATIONFAILED] nope", [], R.Tagged("A2", "NO", ("AUTHENTICATIONFAILED",), "nope")),
    (b"* 23 EXISTS", [], R.Exists(23)),
    (b"* 5 EXPUNGE", [], R.Expunge(5)),
    (b"* 1 RECENT", [], R.Recent(1)),
    (b"* OK [UIDVALIDITY 3857529045] UIDs valid", [], R.Status("OK", ("UIDVALIDITY", 3857529045), "UIDs valid")),
    (b"* BYE [UNAVAILABLE] going down", [], R.Status("BYE", ("UNAVAILABLE",), "going down")),
    (b"* OK [ALERT] disk full", [], R.Status("OK", ("ALERT",), "disk full")),
    (b"* SEARCH 2 84 882", [], R.Search((2, 84, 882))),
    (b"* SEARCH", [], R.Search(())),
    (b"* CAPABILITY IMAP4rev1 IDLE sasl-ir", [], R.Capability(frozenset({"IMAP4REV1", "IDLE", "SASL-IR"}))),
    (b"* FLAGS (\\Answered \\Seen)", [], R.Flags(("\\Answered", "\\Seen"))),
    (b'* LIST (\\HasNoChildren) "/" "Lists/python"', [], R.ListItem(("\\HasNoChildren",), "/", "Lists/python")),
    (b"+ idling", [], R.Continuation("idling")),
    (b"* 3 FETCH (FLAGS (\\Seen) UID 9)", [], R.Fetch(3, {"FLAGS": ("\\Seen",), "UID": 9})),
    (b"* 1 FETCH (UID 4 BODY[HEADER.FIELDS (SUBJECT)] {13})", [b"Subject: x\r\n\r\n"],
     R.Fetch(1, {"UID": 4, "BODY[HEADER.FIELDS (SUBJECT)]": b"Subject: x\r\n\r\n"})),
    (b"* 2 WEIRD thing", [], R.Other("WEIRD", b"* 2 WEIRD thing")),
    # A flag list holds atoms only: NIL there is a keyword (imaptest's nil group).
    (b"* 1 FETCH (FLAGS (NIL \\Seen 42))", [], R.Fetch(1, {"FLAGS": ("NIL", "\\Seen", "42")})),
    (b"* FLAGS (NIL)", [], R.Flags(("NIL",))),
])
def test_responses_parse_to_types(line, literals, expected):
    assert R.parseResponse(line, literals) == expected


@pytest.mark.parametrize("line", [b"* 1 FETCH (UID", b'* 1 FETCH (X "unterminated', b"A1 MAYBE"])
def test_garbage_is_a_parse_error_not_a_crash(line):
    with pytest.raises(R.ResponseParseError):
        R.parseResponse(line, [])


@pytest.mark.parametrize("line, expected", [
    (b"* VANISHED (EARLIER) 41,43:116,15:20",
     R.Vanished(True, ((41, 41), (43, 116), (15, 20)))),
    (b"* VANISHED 405,407,410:409", R.Vanished(False, ((405, 405), (407, 407), (409, 410)))),
    (b"* OK [HIGHESTMODSEQ 715194045007] Highest", R.Status("OK", ("HIGHESTMODSEQ", 715194045007), "Highest")),
    (b"* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences",
     R.Status("OK", ("NOMODSEQ",), "Sorry, this mailbox format doesn't support modsequences")),
    (b"* 1 FETCH (UID 4 MODSEQ (65402) FLAGS (\\Seen))",
     R.Fetch(1, {"UID": 4, "MODSEQ": 65402, "FLAGS": ("\\Seen",)})),
    (b"* ENABLED CONDSTORE QRESYNC", R.Enabled(frozenset({"CONDSTORE", "QRESYNC"}))),
])
def test_condstore_and_qresync_responses(line, expected):
    """RFC 7162's examples: VANISHED (EARLIER), [HIGHESTMODSEQ], [NOMODSEQ], MODSEQ (n)."""
    assert R.parseResponse(line, []) == expected


def test_a_vanished_range_stays_a_range():
    gone = R.parseResponse(b"* VANISHED 1:4294967295", [])
    assert gone.ranges == ((1, 4294967295),)
    assert list(R.parseResponse(b"* VANISHED 3:5,9", [])) == [3, 4, 5, 9]


def test_deep_nesting_is_a_clean_error_not_a_recursion_error():
    line = b"* 1 FETCH (X " + b"(" * 200_000 + b")" * 200_000 + b")"
    with pytest.raises(R.ResponseParseError, match="nested deeper"):
        R.parseResponse(line, [])
    ok = b"* 1 FETCH (X " + b"(" * 50 + b"1" + b")" * 50 + b")"
    value, depth = R.parseResponse(ok, []).items["X"], 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert (value, depth) == (1, 50)


def test_many_literals_parse_in_linear_time():
    # 200,000 empty literals: with pop(0) on the list this took minutes.
    n = 200_000
    line = b"* 1 FETCH (X (" + b"{0} " * n + b"))"
    response = R.parseResponse(line, [b""] * n)
    assert len(response.items["X"]) == n


def test_a_huge_number_is_an_atom_not_a_slow_int():
    response = R.parseResponse(b"* 1 FETCH (X " + b"9" * 5000 + b")", [])
    assert isinstance(response.items["X"], bytes)
