"""LocalBus: synchronous delivery in subscription order, to that mailbox only."""

from idlemail.bus.envelope import EnvelopeStamper
from idlemail.bus.local import LocalBus
from idlemail.events import MessagesAdded


class Receiver:
    def __init__(self, name, heard):
        self.name, self.heard = name, heard

    def changed(self, envelope):
        self.heard.append((self.name, envelope.mailbox, envelope.seq))

    def resync(self):
        self.heard.append((self.name, "resync"))


def test_delivery_is_synchronous_in_subscription_order_and_per_mailbox():
    bus, heard = LocalBus(), []
    stamp = EnvelopeStamper(bus.origin).stamp
    for name in ("first", "second", "third"):
        bus.subscribe("alice", "INBOX", Receiver(name, heard))
    bus.subscribe("alice", "Sent", Receiver("sent", heard))
    bus.subscribe("bob", "INBOX", Receiver("bob", heard))
    bus.publish(stamp("alice", "INBOX", 1, MessagesAdded((1,))))
    bus.publish(stamp("alice", "INBOX", 1, MessagesAdded((2,))))
    assert heard == [("first", "INBOX", 1), ("second", "INBOX", 1), ("third", "INBOX", 1),
                     ("first", "INBOX", 2), ("second", "INBOX", 2), ("third", "INBOX", 2)]


def test_an_unsubscribed_receiver_hears_nothing_more():
    bus, heard = LocalBus(), []
    stamp = EnvelopeStamper(bus.origin).stamp
    one = bus.subscribe("alice", "INBOX", Receiver("one", heard))
    bus.subscribe("alice", "INBOX", Receiver("two", heard))
    one.unsubscribe()
    one.unsubscribe()  # idempotent
    bus.publish(stamp("alice", "INBOX", 1, None))
    assert heard == [("two", "INBOX", 1)]


def test_a_failing_receiver_does_not_stop_the_others():
    bus, heard = LocalBus(), []

    class Broken(Receiver):
        def changed(self, envelope):
            raise RuntimeError("boom")

    bus.subscribe("alice", "INBOX", Broken("broken", heard))
    bus.subscribe("alice", "INBOX", Receiver("fine", heard))
    bus.publish(EnvelopeStamper(bus.origin).stamp("alice", "INBOX", 1, None))
    assert heard == [("fine", "INBOX", 1)]


def test_first_and_last_receivers_are_announced_and_nothing_is_kept():
    bus, seen = LocalBus(), []
    bus.onFirst = lambda u, m: seen.append(("first", u, m))
    bus.onLast = lambda u, m: seen.append(("last", u, m))
    a = bus.subscribe("alice", "INBOX", Receiver("a", []))
    b = bus.subscribe("alice", "INBOX", Receiver("b", []))
    a.unsubscribe()
    b.unsubscribe()
    assert seen == [("first", "alice", "INBOX"), ("last", "alice", "INBOX")]
    assert bus.mailboxes() == [] and bus._receivers == {}


def test_ready_at_once():
    bus = LocalBus()
    done = []
    bus.subscribe("alice", "INBOX", Receiver("a", [])).whenReady().addCallback(done.append)
    assert done == [None]
