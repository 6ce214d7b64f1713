"""SequencedReceiver: new envelopes pass, repeats are dropped, a gap asks for a resync."""

from idlemail.bus.envelope import Envelope
from idlemail.bus.receiver import SequencedReceiver
from idlemail.events import MessagesAdded


def env(origin, seq, uidValidity=7, change=MessagesAdded((1,))):
    return Envelope("alice", "INBOX", uidValidity, origin, seq, change)


class Log:
    def __init__(self):
        self.what = []
        self.receiver = SequencedReceiver(
            lambda e: self.what.append((e.origin, e.seq)), lambda: self.what.append("resync"))

    def feed(self, *envelopes):
        for envelope in envelopes:
            self.receiver.changed(envelope)
        return self.what


def test_in_order_envelopes_of_two_origins_pass():
    assert Log().feed(env("a", 5), env("b", 1), env("a", 6), env("b", 2)) == [
        ("a", 5), ("b", 1), ("a", 6), ("b", 2)]


def test_a_duplicate_or_late_envelope_is_dropped():
    log = Log()
    assert log.feed(env("a", 1), env("a", 2), env("a", 2), env("a", 1)) == [("a", 1), ("a", 2)]
    assert log.receiver.duplicates == 2


def test_a_gap_asks_for_a_resync_and_the_count_follows_on():
    log = Log()
    assert log.feed(env("a", 1), env("a", 4), env("a", 5)) == [("a", 1), "resync", ("a", 5)]
    assert log.receiver.gaps == 1


def test_a_new_uidvalidity_asks_for_a_resync():
    assert Log().feed(env("a", 1, 7), env("b", 1, 8)) == [("a", 1), "resync"]


def test_a_re_read_envelope_asks_for_a_resync():
    assert Log().feed(env("a", 1, change=None)) == ["resync"]


def test_after_the_bus_resyncs_any_number_is_a_fresh_start():
    log = Log()
    log.feed(env("a", 1))
    log.receiver.resync()
    assert log.feed(env("a", 9)) == [("a", 1), "resync", ("a", 9)]
