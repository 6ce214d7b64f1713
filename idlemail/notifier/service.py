"""
The relaying notifier: one L{MailboxWatcher} per (account, mailbox), their events through a
per-account debounce to the sinks of the account and of the mailbox.

Usable on its own inside any Twisted application::

    from idlemail.notifier.service import NotifierService
    NotifierService(loadConfig("idlemail.toml").notifier,
                    callback=lambda event: print(event.asJSON())).setServiceParent(app)
"""

from __future__ import annotations

import functools

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.logger import Logger

from idlemail.client.cursor import CursorStore
from idlemail.metrics import NO_METRICS
from idlemail.client.watcher import MailboxWatcher, WatchSettings
from idlemail.notifier.debounce import Debouncer
from idlemail.notifier.sinks import CallbackSink, buildSink

log = Logger()


def watchSettings(account, mailbox: str, wantsHeaders: bool = True,
                  reactor=None) -> WatchSettings:
    """The watcher's view of one account of the notifier config."""
    return WatchSettings(
        account=account.name, server=account.server, username=account.username,
        password=functools.partial(account.password, reactor), mailbox=mailbox,
        auth=account.auth, starttls=account.starttls, plaintext=account.plaintext,
        caFile=account.caFile, insecureSkipVerify=account.insecureSkipVerify,
        readonly=account.readonly, reidle=account.reidle,
        keepaliveTimeout=account.keepaliveTimeout,
        commandTimeout=min(60.0, max(account.keepaliveTimeout, 5.0)),
        pollInterval=account.pollInterval, backoffMax=account.backoffMax,
        authRetry=max(account.backoffMax, 60.0), downAfter=account.downAfter,
        maxLiteralSize=account.maxLiteralSize, wantsHeaders=wantsHeaders)


def _delivered(sinks, event, metrics) -> defer.Deferred:
    ds = []
    for sink in sinks:
        if getattr(sink, "events", None) is not None and event.event not in sink.events:
            continue
        kind = getattr(sink, "name", "callback").split(" ", 1)[0]
        d = defer.maybeDeferred(sink.deliver, event)
        d.addCallbacks(lambda ok, kind=kind: ok is False and metrics.sinkFailure(kind),
                       lambda f, kind=kind: (metrics.sinkFailure(kind),
                                             log.failure("A sink failed", f)))
        ds.append(d)
    return defer.DeferredList(ds)


class Relay:
    """
    Hands each event to every sink of one mailbox; a failing sink never stops another.
    Sinks marked C{after} get the event once all the others have finished with it.
    """

    def __init__(self, sinks, metrics=NO_METRICS):
        self.sinks = list(sinks)
        self.metrics = metrics
        self.first = [s for s in self.sinks if not getattr(s, "after", False)]
        self.last = [s for s in self.sinks if getattr(s, "after", False)]

    def __call__(self, event) -> defer.Deferred:
        self.metrics.notifierEvent(event.event)
        d = _delivered(self.first, event, self.metrics)
        if self.last:
            d.addCallback(lambda _: _delivered(self.last, event, self.metrics))
        return d


class _ByMailbox:
    """Routes a watcher's events to the relay of its mailbox (after the account's debounce)."""

    def __init__(self, relays: dict):
        self.relays = relays

    def __call__(self, event) -> defer.Deferred:
        return self.relays[event.mailbox](event)


class NotifierService(MultiService):
    _metrics = NO_METRICS

    @property
    def metrics(self):
        return self._metrics

    @metrics.setter
    def metrics(self, metrics) -> None:
        # Set by the twistd wiring after construction, when [metrics] is configured.
        self._metrics = metrics
        for relay in self.relays:
            relay.metrics = metrics

    def __init__(self, config, reactor=None, callback=None):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.cursors = CursorStore(config.stateFile)
        self.sinks: list = []  # each built once, closed once
        self.watchers: list[MailboxWatcher] = []
        self.relays: list[Relay] = []
        extra = [CallbackSink(callback)] if callback is not None else []
        self.sinks += extra
        for index, account in enumerate(config.accounts):
            prefix = f"notifier.accounts[{index}]"
            shared = self._build(account.sinks, config.path, f"{prefix}.sinks", reactor)
            relays = {}
            for m, mailbox in enumerate(account.mailboxes):
                own = self._build(account.mailboxSinks.get(mailbox, ()), config.path,
                                  f"{prefix}.mailboxes[{m}].sinks", reactor)
                relays[mailbox] = Relay(shared + own + extra)
                self.relays.append(relays[mailbox])
            debouncer = Debouncer(_ByMailbox(relays), account.debounceWait,
                                  account.debounceMaxDelay, reactor)
            for mailbox in account.mailboxes:
                wantsHeaders = any(getattr(s, "wantsHeaders", True)
                                   for s in relays[mailbox].sinks)
                watcher = MailboxWatcher(watchSettings(account, mailbox, wantsHeaders, reactor),
                                         debouncer.submit, self.cursors, reactor=reactor)
                watcher.setServiceParent(self)
                self.watchers.append(watcher)

    def _build(self, specs, path: str, prefix: str, reactor) -> list:
        built = [buildSink(spec, path, f"{prefix}[{i}]", reactor) for i, spec in enumerate(specs)]
        self.sinks += built
        return built

    async def _stop(self):
        await super().stopService()
        await defer.DeferredList([defer.maybeDeferred(s.close) for s in self.sinks])

    def stopService(self):
        return defer.ensureDeferred(self._stop())
