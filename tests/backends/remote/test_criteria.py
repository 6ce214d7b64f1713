"""
SEARCH criteria as the arguments of an upstream UID SEARCH.
"""

import pytest

from idlemail.backends.remote.criteria import searchArguments
from idlemail.client.protocol import LiteralArgument
from idlemail.errors import IMAPError
from idlemail.wire.command import SearchKey, SequenceSet, parseCommand


def arguments(text: bytes) -> list:
    return searchArguments(parseCommand(b"t SEARCH " + text).args.criteria)


def test_keys_are_written_in_imap_prefix_form():
    assert arguments(b"SUBJECT report UNSEEN") == [b"SUBJECT", b'"report"', b"UNSEEN"]
    assert arguments(b'OR FROM "Carol" (KEYWORD $Work LARGER 100)') == [
        b"OR", b"FROM", b'"Carol"', (b"KEYWORD", b"$Work", b"LARGER", b"100")]
    assert arguments(b"NOT SINCE 1-Feb-2024 HEADER X-Spam yes") == [
        b"NOT", b"SINCE", b"1-Feb-2024", b"HEADER", b'"X-SPAM"', b'"yes"']
    assert arguments(b'BODY "say \\"hi\\""') == [b"BODY", b'"say \\"hi\\""']


def test_8_bit_text_goes_as_a_literal_with_charset_utf8():
    assert arguments(b"CHARSET UTF-8 TEXT {7+}\r\nz\xc3\xbcrich") == [
        b"CHARSET", b"UTF-8", b"TEXT", LiteralArgument("zürich".encode())]


def test_uid_sets_and_an_empty_one():
    uid = SearchKey("UID", (SequenceSet(((1, 3), (7, 7))),))
    assert searchArguments(uid) == [b"UID", b"1:3,7"]
    nothing = SearchKey("UID", (SequenceSet(()),))
    assert searchArguments(SearchKey("OR", (nothing, uid))) == [
        b"OR", b"NOT", b"ALL", b"UID", b"1:3,7"]


def test_keys_the_server_should_have_resolved_are_refused():
    with pytest.raises(IMAPError):
        arguments(b"1:5")
    with pytest.raises(IMAPError):
        arguments(b"RECENT")
