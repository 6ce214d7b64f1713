"""
The contract of a notifier sink.

Who calls: the notifier's relay, on the reactor thread, once per event, in the order the
watcher saw them (after the per-mailbox debounce).
What may block: nothing; a sink that runs a process or makes a request returns a Deferred.
What it must not do: raise to the caller. A sink logs its own failures and retries as its
kind allows, so that one broken sink never silences another.
"""

from zope.interface import Attribute, Interface


class ISink(Interface):
    name = Attribute("A short label for logs, e.g. 'exec notify-send'.")
    wantsHeaders = Attribute("True if message.new events should carry From/Subject/Date/"
                             "Message-ID (the watcher then fetches them in the same round trip).")

    def deliver(event):
        """Relay one L{idlemail.client.events.WatchEvent}; a Deferred firing when handled."""

    def close():
        """Finish or abandon work in progress; a Deferred firing when done."""
