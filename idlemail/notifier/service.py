"""
The relaying notifier: one L{MailboxWatcher} per (account, mailbox), their events through a
per-account debounce to that account's sinks.

Usable on its own inside any Twisted application::

    from idlemail.notifier.service import NotifierService
    NotifierService(loadConfig("idlemail.toml").notifier,
                    callback=lambda event: print(event.asJSON())).setServiceParent(app)
"""

from __future__ import annotations

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.logger import Logger

from idlemail.client.cursor import CursorStore
from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.notifier.debounce import Debouncer
from idlemail.notifier.sinks import CallbackSink, buildSink

log = Logger()


def watchSettings(account, mailbox: str, wantsHeaders: bool = True) -> WatchSettings:
    """The watcher's view of one account of the notifier config."""
    return WatchSettings(
        account=account.name, server=account.server, username=account.username,
        password=account.password, mailbox=mailbox, auth=account.auth,
        starttls=account.starttls, plaintext=account.plaintext, caFile=account.caFile,
        insecureSkipVerify=account.insecureSkipVerify, readonly=account.readonly,
        reidle=account.reidle, keepaliveTimeout=account.keepaliveTimeout,
        commandTimeout=min(60.0, max(account.keepaliveTimeout, 5.0)),
        pollInterval=account.pollInterval, backoffMax=account.backoffMax,
        authRetry=max(account.backoffMax, 60.0), wantsHeaders=wantsHeaders)


class Relay:
    """Hands each event to every sink of one account; a failing sink never stops another."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def __call__(self, event) -> defer.Deferred:
        ds = [defer.maybeDeferred(sink.deliver, event) for sink in self.sinks
              if getattr(sink, "events", None) is None or event.event in sink.events]
        for d in ds:
            d.addErrback(lambda f: log.failure("A sink failed", f))
        return defer.DeferredList(ds)

    def close(self) -> defer.Deferred:
        return defer.DeferredList([defer.maybeDeferred(s.close) for s in self.sinks])


class NotifierService(MultiService):
    def __init__(self, config, reactor=None, callback=None):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.cursors = CursorStore(config.stateFile)
        self.relays: list[Relay] = []
        self.watchers: list[MailboxWatcher] = []
        for index, account in enumerate(config.accounts):
            prefix = f"notifier.accounts[{index}].sinks"
            sinks = [buildSink(spec, config.path, f"{prefix}[{i}]", reactor)
                     for i, spec in enumerate(account.sinks)]
            if callback is not None:
                sinks.append(CallbackSink(callback))
            relay = Relay(sinks)
            self.relays.append(relay)
            wantsHeaders = any(getattr(s, "wantsHeaders", True) for s in sinks)
            debouncer = Debouncer(relay, account.debounceWait, account.debounceMaxDelay, reactor)
            for mailbox in account.mailboxes:
                watcher = MailboxWatcher(watchSettings(account, mailbox, wantsHeaders),
                                         debouncer.submit, self.cursors, reactor=reactor)
                watcher.setServiceParent(self)
                self.watchers.append(watcher)

    async def _stop(self):
        await super().stopService()
        for relay in self.relays:
            await relay.close()

    def stopService(self):
        return defer.ensureDeferred(self._stop())
