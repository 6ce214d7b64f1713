"""Envelopes: numbered per mailbox, and their JSON form read back as sent."""

import json
from dataclasses import dataclass

import pytest

from idlemail import events
from idlemail.bus import changes
from idlemail.bus.changes import parseUidSet, uidSet
from idlemail.bus.envelope import (
    BadEnvelope,
    Envelope,
    EnvelopeStamper,
    decodeEnvelope,
    encodeEnvelope,
    newOrigin,
)
from idlemail.events import (
    FlagsChanged,
    KeywordsAdded,
    MailboxReset,
    MessagesAdded,
    MessagesExpunged,
)

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
     "bad change 'f': flags: 1 is not a str"),
    (b'{"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1, "c": "f", "d": [["x"]]}',
     "bad change 'f': flags: ['x'] is not a list of 2"),
    (b'{"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1, "c": "z", "d": 5}',
     "bad change 'z': reason: 5 is not a str"),
])
def test_what_is_not_an_envelope_is_refused_with_one_line(data, why):
    with pytest.raises(BadEnvelope) as e:
        decodeEnvelope(data)
    assert str(e.value).startswith(why)


def test_a_field_added_to_an_event_travels_without_a_change_to_the_codec(monkeypatch):
    # As CONDSTORE may add a modseq to an event: plain fields, pairs keyed by UID.
    @dataclass(frozen=True, slots=True)
    class MessagesAdded:
        uids: tuple[int, ...]
        modseq: int = 0
        modseqs: tuple[tuple[int, int], ...] = ()
        note: str | None = None

    MessagesAdded.__module__ = events.__name__
    monkeypatch.setitem(changes.CODES, MessagesAdded, "a")
    monkeypatch.delitem(changes.CODES, events.MessagesAdded)
    sent = Envelope("a", "INBOX", 1, "o", 1, MessagesAdded((4, 5), 9, ((4, 8), (5, 9))))
    data = encodeEnvelope(sent)
    # A field at its default (note) is left out, and read back as its default.
    assert json.loads(data)["e"] == {"modseq": 9, "modseqs": [[8, "4"], [9, "5"]]}
    assert decodeEnvelope(data) == sent


def test_a_field_this_version_does_not_know_is_ignored():
    data = json.dumps({"v": 1, "o": "o", "s": 1, "u": "a", "m": "INBOX", "uv": 1,
                       "c": "a", "d": "4:5", "e": {"modseq": 9, "later": 1}})
    assert decodeEnvelope(data).change == MessagesAdded((4, 5), modseq=9)


def test_an_event_at_its_defaults_travels_as_before_it_had_them():
    sent = Envelope("a", "INBOX", 1, "o", 1, MessagesExpunged((4, 5)))
    assert "e" not in json.loads(encodeEnvelope(sent))
    assert decodeEnvelope(encodeEnvelope(sent)) == sent


def test_an_event_kind_added_later_travels_by_its_class_name(monkeypatch):
    @dataclass(frozen=True, slots=True)
    class MessagesVanished:
        uids: tuple[int, ...]
        earlier: bool

    MessagesVanished.__module__ = events.__name__
    monkeypatch.setattr(events, "MessagesVanished", MessagesVanished, raising=False)
    changes._laterKinds.cache_clear()
    try:
        sent = Envelope("a", "INBOX", 1, "o", 1, MessagesVanished((3,), True))
        record = json.loads(encodeEnvelope(sent))
        assert (record["c"], record["d"], record["e"]) == ("MessagesVanished", "3",
                                                           {"earlier": True})
        assert decodeEnvelope(encodeEnvelope(sent)) == sent
    finally:
        changes._laterKinds.cache_clear()


def test_a_mailbox_reset_travels_too():
    sent = Envelope("a", "INBOX", 1, "o", 1, MailboxReset("INBOX was replaced"))
    assert decodeEnvelope(encodeEnvelope(sent)) == sent


def test_only_events_are_encoded():
    with pytest.raises(TypeError):
        encodeEnvelope(Envelope("a", "INBOX", 1, "o", 1, object()))


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
