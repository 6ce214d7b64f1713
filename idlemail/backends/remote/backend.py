"""
RemoteBackend: accounts of an upstream IMAP server. A local LOGIN (or AUTHENTICATE PLAIN)
is checked by logging in upstream with the same credentials; the upstream's refusal is the
local one, in its words. The connection that checked a login becomes one of the user's
pooled command connections if the pool has room.
"""

from __future__ import annotations

from twisted.internet import defer
from zope.interface import implementer

from idlemail.backends.remote import upstream
from idlemail.backends.remote.account import RemoteAccount
from idlemail.backends.remote.settings import RemoteSettings
from idlemail.backends.remote.user import UpstreamUser
from idlemail.client.commands import hierarchyDelimiter
from idlemail.client.login import deadline
from idlemail.interfaces import IBackend

#: Upstream logins checked at once; a storm of local logins queues behind these.
MAX_CONCURRENT_LOGINS = 16


@implementer(IBackend)
class RemoteBackend:
    def __init__(self, settings: RemoteSettings, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.settings, self.reactor = settings, reactor
        self.users: dict[str, UpstreamUser] = {}
        self._logins = defer.DeferredSemaphore(MAX_CONCURRENT_LOGINS)

    def login(self, username: str, password: str):
        return defer.ensureDeferred(self._login(username, password))

    async def _login(self, username: str, password: str) -> RemoteAccount:
        proto = await self._logins.run(lambda: defer.ensureDeferred(upstream.login(
            self.reactor, self.settings, username, password)))
        try:
            user = self.users.get(username)
            if user is None:
                delimiter = await deadline(defer.ensureDeferred(hierarchyDelimiter(proto)),
                                           self.settings.commandTimeout, self.reactor)
                user = self.users.get(username)  # another login may have made it meanwhile
                if user is None:
                    user = UpstreamUser(self, username, password, delimiter or "/")
                    self.users[username] = user
        except Exception as e:
            proto.close()
            raise upstream.unavailable(e, self.settings)
        user.loggedIn(password)
        user.pool.offer(proto)
        return RemoteAccount(user)

    def forget(self, user: UpstreamUser) -> None:
        if self.users.get(user.username) is user:
            del self.users[user.username]

    def watchedCount(self) -> int:
        """Mailboxes followed upstream right now (one connection each)."""
        return sum(len(u.watches) for u in self.users.values())

    def close(self):
        users, self.users = list(self.users.values()), {}
        return defer.DeferredList([u.close() for u in users]).addCallback(lambda _: None)
