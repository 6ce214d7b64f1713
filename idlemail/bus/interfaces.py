"""
The change bus: how a process tells every process that serves a mailbox what changed in it.

A backend that changes a mailbox (or sees it changed, by inotify) publishes an
L{idlemail.bus.envelope.Envelope}; whoever keeps a view of that mailbox (the mailbox's
tracker, fed by its backend) subscribes to it. The bus is the only road between the two,
so that the same backend code serves one process (L{idlemail.bus.local.LocalBus}) or many
processes and hosts on one mail store (L{idlemail.bus.redis.RedisBus}).

The store is the truth; an envelope only says where to look. A receiver applies what an
envelope names by reading the store, so a duplicate, late or reordered envelope does no
harm, and anything it cannot account for (a gap in the sequence, a bus outage) is answered
by re-reading the whole mailbox: a resync.

How a backend uses it (L{idlemail.bus.feed} holds both ends; one bus per process, whose
C{stamper} numbers every envelope published through it)::

    # any change in the store (APPEND, STORE, EXPUNGE, ... or seen by the watcher):
    MailboxPublisher(bus, user, mailbox).publish(event, uidValidity, session)
    # a mailbox is opened in this process (its first session, or kept open):
    feed = TrackerFeed(bus, user, mailbox, lookAgain, resync)   # subscribes
    yield feed.whenReady()       # then read the store and build the tracker
    feed.tracker = tracker
    # it is closed (the tracker's onEmpty, after any linger): feed.unsubscribe()

An envelope of this process (C{envelope.origin == bus.origin}) is applied to the tracker
as it is (C{tracker.publish(envelope.change, envelope.session)}); another process's names
what to look at: C{lookAgain(envelope)} re-reads those messages from the store and gives
the tracker what differs (C{feed.apply}), never back onto the bus: that process told
everyone already. C{resync()}: compare the whole mailbox with the store.

A backend that has a bus given (C{useBus(bus)}, by L{idlemail.tap}) publishes through it;
one that has none keeps calling its trackers itself, as a third-party backend may.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IChangeReceiver(Interface):
    """What a subscriber gives L{IChangeBus.subscribe}; called on the reactor thread only."""

    def changed(envelope):
        """
        C{envelope} (an L{idlemail.bus.envelope.Envelope}) changed the mailbox subscribed to.

        Called synchronously from L{IChangeBus.publish} for a change made in this process,
        from the bus's connection for one made in another. Envelopes of one origin arrive in
        the order that origin published them, but may be duplicated or missing (see
        L{idlemail.bus.receiver.SequencedReceiver}, which sorts that out). Must not raise;
        a receiver that does is logged and the others still hear of the change.
        """

    def resync():
        """
        Changes to the mailbox may have been missed (the bus lost its connection and has it
        back, or a gap was seen): read the mailbox from the store again and tell the
        sessions what differs. Called on the reactor thread, possibly more than once.
        """


class ISubscription(Interface):
    """A receiver's place on the bus, as L{IChangeBus.subscribe} returns it."""

    def unsubscribe():
        """Stop delivering to the receiver. Idempotent; never raises."""

    def whenReady():
        """
        A Deferred that fires (with None) once the bus delivers every change made from
        now on: at once for an in-process bus; once the subscription is in place for a
        networked one (at once while it is disconnected: a L{IChangeReceiver.resync}
        follows the reconnect). Read the store after it fires, so that no change slips
        between the read and the subscription.
        """


class IChangeBus(Interface):
    """
    Carries mailbox changes between the backends that make them and the views that show
    them, within one process and, for a networked bus, between processes.

    Everything is called on the reactor thread. Delivery to the receivers of this process
    is synchronous, within L{publish}. A networked bus also sends the envelope to the other
    processes and delivers theirs; it never delivers an envelope of its own L{origin} twice.
    """

    origin = Attribute(
        "This process's origin id (str: host, pid and a random part, unique per process "
        "start): what envelopes published here carry, and how a networked bus recognises "
        "its own envelopes coming back.")

    stamper = Attribute(
        "The process's one L{idlemail.bus.envelope.EnvelopeStamper} (with L{origin}): "
        "whoever publishes through this bus numbers its envelopes with it.")

    def publish(envelope):
        """
        Tell every subscriber of C{(envelope.user, envelope.mailbox)} of C{envelope}.

        Called by the backend, on the reactor thread, right after the change is in the
        store (never before: a receiver in another process reads the store at once).
        Never raises and never blocks: while a networked bus is down the change still
        reaches this process's subscribers, and the other processes resync when it is back.
        """

    def subscribe(user, mailbox, receiver):
        """
        Deliver the changes of C{user}'s C{mailbox} (the backend's name for it: C{"INBOX"},
        C{"Lists/python"}) to C{receiver} (an L{IChangeReceiver}) until the returned
        L{ISubscription} is unsubscribed. Changes published before this call are not
        delivered; read the store once L{ISubscription.whenReady} fires.
        """
