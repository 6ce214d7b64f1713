"""
RemoteAccount: one local session's view of an upstream user's mailboxes. Mailbox
management goes upstream as it is; opening a mailbox joins (or starts) its one watch.
"""

from __future__ import annotations

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec
from twisted.internet import defer
from zope.interface import implementer

from idlemail.backends.remote.mailbox import RemoteMailbox
from idlemail.client import commands
from idlemail.interfaces import IAccount
from idlemail.records import MailboxInfo, MailboxStatus

# The server says these itself, from the names (RFC 3348).
_CHILD_ATTRIBUTES = {"\\haschildren", "\\hasnochildren"}
_STATUS_ITEMS = "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"


def decodeName(name: str) -> str:
    """A mailbox name as the upstream listed it (modified UTF-7) as text."""
    try:
        return name.encode("ascii").decode("imap4-utf-7")
    except (UnicodeError, ValueError):
        return name


@implementer(IAccount)
class RemoteAccount:
    def __init__(self, user):
        self._user = user
        self.username = user.username
        self.delimiter = user.delimiter
        self._loggedOut = False

    def _run(self, work) -> defer.Deferred:
        return defer.ensureDeferred(self._user.pool.run(lambda s: work(s.proto)))

    def listMailboxes(self):
        return self._run(lambda proto: commands.listMailboxes(proto)).addCallback(
            lambda items: [MailboxInfo(decodeName(i.name), tuple(
                a for a in i.flags if a.lower() not in _CHILD_ATTRIBUTES)) for i in items])

    def create(self, name: str):
        return self._run(lambda proto: commands.mailboxCommand(proto, "CREATE", name))

    def delete(self, name: str):
        d = self._run(lambda proto: commands.mailboxCommand(proto, "DELETE", name))
        return d.addCallback(lambda _: self._user.resetWatches(
            [name], "{name} was deleted; select another mailbox"))

    def rename(self, oldName: str, newName: str):
        def renamed(_):
            if oldName != "INBOX":
                self._user.resetWatches([oldName], "{name} was renamed; select it again")
                return
            # INBOX stays, emptied (RFC 3501 6.3.5): what it held is gone, told at once.
            inbox = self._user.watched("INBOX")
            if inbox is not None and inbox.state is not None:
                inbox.state.expunged(list(inbox.state.flags))
        d = self._run(lambda proto: commands.mailboxCommand(proto, "RENAME", oldName, newName))
        return d.addCallback(renamed)

    def subscribe(self, name: str):
        return self._run(lambda proto: commands.mailboxCommand(proto, "SUBSCRIBE", name))

    def unsubscribe(self, name: str):
        return self._run(lambda proto: commands.mailboxCommand(proto, "UNSUBSCRIBE", name))

    def subscriptions(self):
        return self._run(lambda proto: commands.listMailboxes(proto, subscribed=True)).addCallback(
            lambda items: [decodeName(i.name) for i in items])

    def status(self, name: str):
        def figures(items):
            watch = self._user.watched(name)
            recent = items.get("RECENT", 0)
            if watch is not None and watch.state is not None:
                recent = watch.state.tracker.recentCount  # \Recent is the proxy's own
            return MailboxStatus(items.get("MESSAGES", 0), recent, items.get("UIDNEXT", 1),
                                 items.get("UIDVALIDITY", 1), items.get("UNSEEN", 0))
        return self._run(lambda proto: proto.status(name, _STATUS_ITEMS)).addCallback(figures)

    def open(self, name: str, readonly: bool):
        watch = self._user.watch(name)
        d = watch.whenReady()
        return d.addCallback(lambda state: RemoteMailbox(self._user, watch, state, readonly))

    def logout(self) -> None:
        if not self._loggedOut:
            self._loggedOut = True
            self._user.logout()
