"""
UpstreamUser: one upstream user as the proxy holds it while it has local sessions or
watched mailboxes: the password of its latest successful local login (needed to open
command connections and to reconnect watchers; never used to accept a local login, which
is always checked upstream), its pool of command connections, and its mailbox watches.
When the last local session has logged out and the last watch has stopped, it is
forgotten, password and all.
"""

from __future__ import annotations

from twisted.internet import defer

from idlemail.backends.remote import upstream
from idlemail.backends.remote.pool import UpstreamPool
from idlemail.backends.remote.watch import MailboxWatch
from idlemail.errors import IMAPError


class UpstreamUser:
    def __init__(self, backend, username: str, password: str, delimiter: str):
        self.backend = backend
        self.settings, self.reactor = backend.settings, backend.reactor
        self.username, self.password, self.delimiter = username, password, delimiter
        self.pool = UpstreamPool(self.connect, self.settings, self.reactor)
        self.watches: dict[str, MailboxWatch] = {}
        self.accounts = 0

    def loginSettings(self):
        return self.settings.login(self.username, self.password)

    async def connect(self):
        """A new command connection, logged in with the latest password."""
        try:
            return await upstream.login(self.reactor, self.settings, self.username,
                                        self.password)
        except upstream.LoginRefused as e:
            raise IMAPError(f"The upstream server no longer accepts the login ({e}); "
                            f"log in again", "UNAVAILABLE")

    # --- watches ---------------------------------------------------------------------
    def watch(self, name: str) -> MailboxWatch:
        """The watch of C{name}, started if it is not watched yet."""
        watch = self.watches.get(name)
        if watch is None:
            watch = self.watches[name] = MailboxWatch(self, name, self.settings, self.reactor)
            watch.start()
        return watch

    def watched(self, name: str) -> MailboxWatch | None:
        return self.watches.get(name)

    def dropWatch(self, watch: MailboxWatch) -> defer.Deferred:
        if self.watches.get(watch.name) is watch:
            del self.watches[watch.name]
        d = watch.stop()
        self._maybeForget()
        return d

    def resetWatches(self, names, reason: str) -> None:
        """Mailboxes deleted or renamed through the proxy: their sessions end, and no
        command connection keeps them selected."""
        gone = set()
        for name in list(self.watches):
            if any(name == n or name.startswith(n + self.delimiter) for n in names):
                watch = self.watches[name]
                if watch.state is not None:
                    watch.state.reset(reason.format(name=name))
                gone.add(name)
                self.dropWatch(watch)
        self.pool.forgetSelected(set(names) | gone)

    # --- life --------------------------------------------------------------------------
    def loggedIn(self, password: str) -> None:
        self.password = password
        self.accounts += 1

    def logout(self) -> None:
        self.accounts -= 1
        self._maybeForget()

    def _maybeForget(self) -> None:
        if self.accounts <= 0 and not self.watches:
            self.pool.close()
            self.password = None
            self.backend.forget(self)

    def close(self) -> defer.Deferred:
        self.accounts = 0
        stops = [self.dropWatch(w) for w in list(self.watches.values())]
        self.pool.close()
        return defer.DeferredList(stops)
