"""Envelopes: numbered per mailbox, and their JSON form read back as sent."""

import json

import pytest

from idlemail.bus.envelope import (
    BadEnvelope,
    Envelope,
    EnvelopeStamper,
    decodeEnvelope,
    encodeEnvelope,
    newOrigin,
    parseUidSet,
    uidSet,
)
from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged

SEEN, FLAGGED = frozenset({"\\Seen"}), frozenset({"\\Seen", "\\Flagged"})

CHANGES = {
    "added": MessagesAdded((41, 42, 43, 45)),
    "expunged": MessagesExpunged((3, 9, 10)),
    "flags": FlagsChanged(((1, SEEN), (2, FLAGGED), (3, SEEN), (7, frozenset()))),
    "keywords": KeywordsAdded(("$Junk", "Ärger")),
    "re-read": None,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_change_reads_back_as_sent(change):
    sent = Envelope("alice", "Lists/Pythön", 1700000000, "mx1:42:abcd", 17, change)
    assert decodeEnvelope(encodeEnvelope(sent)) == sent


def test_the_wire_form_is_compact_json():
    sent = Envelope("alice", "INBOX", 7, "o", 3, MessagesAdded((41, 42, 43, 45)))
    assert json.loads(encodeEnvelope(sent)) == {
        "v": 1, "o": "o", "s": 3, "u": "alice", "m": "INBOX", "uv": 7, "c": "a",
        "d": "41:43,45"}


def test_flag_changes_are_grouped_by_flag_set():
    flags = FlagsChanged(tuple((uid, SEEN) for uid in range(1, 1001)))
    record = json.loads(encodeEnvelope(Envelope("a", "INBOX", 1, "o", 1, flags)))
    assert record["d"] == [[["\\Seen"], "1:1000"]]


def test_the_session_stays_in_the_process():
    sent = Envelope("a", "INBOX", 1, "o", 1, None, session=object())
    assert decodeEnvelope(encodeEnvelope(sent)).session is None


def test_a_change_kind_of_a_later_version_means_re_read():
    data = json.dumps({"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1,
                       "c": "renamed", "d": "Archive"})
    assert decodeEnvelope(data).change is None


@pytest.mark.parametrize("data,why", [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"v": 2}', "unknown version 2"),
    (b'{"v": 1, "o": "o", "s": "1", "u": "a", "m": "INBOX", "uv": 1, "c": "r"}',
     "'s' is not a int"),
    (b'{"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1, "c": "a", "d": "5:3"}',
     "bad change 'a': bad range '5:3'"),
    (b'{"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1, "c": "a", "d": "1:9999999"}',
     "bad change 'a': bad range '1:9999999'"),
    (b'{"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1, "c": "f", "d": [[[1], "1"]]}',
     "bad change 'f': a flag is not a string"),
])
def test_what_is_not_an_envelope_is_refused_with_one_line(data, why):
    with pytest.raises(BadEnvelope) as e:
        decodeEnvelope(data)
    assert str(e.value).startswith(why)


def test_uid_sets():
    assert uidSet([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uidSet([]) == ""
    assert parseUidSet("9:10,1:3,7") == [1, 2, 3, 7, 9, 10]


def test_the_stamper_numbers_each_mailbox_on_its_own():
    stamper = EnvelopeStamper("o")
    seqs = [stamper.stamp(user, box, 1, None).seq
            for user, box in [("a", "INBOX"), ("a", "INBOX"), ("a", "Sent"), ("b", "INBOX"),
                              ("a", "INBOX")]]
    assert seqs == [1, 2, 1, 1, 3]


def test_origins_differ_between_process_starts():
    assert newOrigin() != newOrigin()
