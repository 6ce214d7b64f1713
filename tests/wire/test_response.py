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
])
def test_responses_parse_to_types(line, literals, expected):
    assert R.parseResponse(line, literals) == expected


@pytest.mark.parametrize("line", [b"* 1 FETCH (UID", b'* 1 FETCH (X "unterminated', b"A1 MAYBE"])
def test_garbage_is_a_parse_error_not_a_crash(line):
    with pytest.raises(R.ResponseParseError):
        R.parseResponse(line, [])
