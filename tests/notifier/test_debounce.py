from twisted.internet.task import Clock

from idlemail.client.events import WatchEvent
from idlemail.notifier.debounce import Debouncer


def event(uid, mailbox="INBOX"):
    return WatchEvent("message.new", "home", mailbox, uid=uid)


def test_zero_wait_passes_through_at_once():
    out = []
    Debouncer(out.append, 0, 5, Clock()).submit(event(1))
    assert [e.uid for e in out] == [1]


def test_a_burst_is_held_until_quiet_then_delivered_in_order():
    clock, out = Clock(), []
    d = Debouncer(out.append, 1.0, 10.0, clock)
    for uid in (1, 2, 3):
        d.submit(event(uid))
        clock.advance(0.5)
    assert out == []
    clock.advance(1.0)
    assert [e.uid for e in out] == [1, 2, 3]


def test_max_delay_bounds_the_hold_and_mailboxes_are_apart():
    clock, out = Clock(), []
    d = Debouncer(out.append, 1.0, 2.0, clock)
    d.submit(event(9, "Other"))
    for uid in range(1, 6):
        d.submit(event(uid))
        clock.advance(0.6)
    assert [e.uid for e in out][:1] == [9]
    assert {e.uid for e in out} >= {1, 2, 3, 4}
