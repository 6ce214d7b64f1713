"""
The change bus between processes and hosts: Redis pub/sub through txredisapi.

Every process delivers its own changes to its own receivers at once (a L{LocalBus} inside)
and PUBLISHes them on the mailbox's channel, C{idlemail:<user>:<mailbox in modified
UTF-7>}. It SUBSCRIBEs only to the channels of mailboxes it has receivers for, and ignores
the envelopes of its own origin that come back.

Two connections, since a subscribed Redis connection may only (un)subscribe: one publishes,
one listens. Each is kept up by txredisapi (a ClientService with exponential backoff).
While either is down the bus is "down": that is logged once; a change made meanwhile still
reaches this process's receivers, and the last unsent envelope of each mailbox is sent
when the publishing connection is back, so that the other processes see the gap. When the
listening connection is back, every channel is subscribed again and then every receiver
resyncs: nothing is lost, only late. A Redis that stops reading (a full socket buffer)
counts as down for publishing, so that memory stays bounded.
"""

from __future__ import annotations

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec
import txredisapi
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from idlemail.bus.envelope import BadEnvelope, Envelope, decodeEnvelope, encodeEnvelope
from idlemail.bus.interfaces import IChangeBus
from idlemail.bus.local import LocalBus

log = Logger()
CHANNEL_PREFIX = "idlemail:"

# Connection states of the bus as a whole (both connections up = UP).
IDLE, CONNECTING, UP, DOWN = "idle", "connecting", "up", "down"


def channelName(user: str, mailbox: str, prefix: str = CHANNEL_PREFIX) -> str:
    """The pub/sub channel of a mailbox; C{%} and C{:} in the user name are escaped so
    that no two (user, mailbox) pairs share a channel."""
    user = user.replace("%", "%25").replace(":", "%3A")
    return f"{prefix}{user}:{mailbox.encode('imap4-utf-7').decode('ascii')}"


def _noDelay(transport) -> None:
    # A change is one small write: without TCP_NODELAY the second of two in a row can
    # wait for the peer's delayed ACK (~40 ms), as IMAP pushes would (DESIGN.md).
    if hasattr(transport, "setTcpNoDelay"):
        transport.setTcpNoDelay(True)


class _Publisher(txredisapi.RedisProtocol):
    def connectionMade(self):
        _noDelay(self.transport)
        return super().connectionMade()


class _Listener(txredisapi.SubscriberProtocol):
    def connectionMade(self):
        _noDelay(self.transport)
        return super().connectionMade()

    def messageReceived(self, pattern, channel, message):
        self.factory.bus._received(channel, message)


class _Connection(txredisapi.RedisFactory):
    """One kept-up connection: txredisapi connects and backs off; we hear of each step."""

    def __init__(self, bus: "RedisBus", protocol, initialDelay: float, maxDelay: float):
        super().__init__(None, None, 1, isLazy=True)
        self.bus, self.protocol = bus, protocol
        self.initialDelay, self.maxDelay = initialDelay, maxDelay
        self.deferred.addErrback(lambda failure: None)  # "pool never complete": see _retry

    def buildProtocol(self, addr):
        from twisted.internet import reactor
        protocol = super().buildProtocol(addr)
        # Ready can come inside connectionMade, before the reactor has finished the
        # connection: act on it a turn later, as txredisapi's own pool does.
        protocol.whenConnected().addCallback(
            lambda p: reactor.callLater(0, self.bus._ready, p))
        protocol.whenDisconnected().addCallback(self.bus._lost)
        return protocol

    def retryDelay(self, attempt):
        self.bus._failedAttempt()
        return super().retryDelay(attempt)


@implementer(IPushProducer)
class _Backpressure:
    """Paused by the publishing transport when Redis does not read what we send."""

    def __init__(self, bus: "RedisBus"):
        self.bus = bus
        self.paused = False

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self.bus._flushDropped()

    def stopProducing(self):
        pass


@implementer(IChangeBus)
class RedisBus(Service):
    """
    @param endpoint: a Twisted client endpoint string: C{tcp:127.0.0.1:6379},
        C{tls:redis.example.org:6380} (certificate and host name checked), C{unix:/path}.
    @ivar published: envelopes sent to Redis; C{dropped}: not sent (the bus was down);
        C{received}: delivered from other processes; C{ignored}: our own, come back;
        C{rejected}: messages on our channels that are not envelopes.
    """

    def __init__(self, endpoint: str, origin: str | None = None, *,
                 prefix: str = CHANNEL_PREFIX, initialDelay: float = 0.5,
                 maxDelay: float = 10.0):
        self.local = LocalBus(origin)
        self.origin, self.stamper = self.local.origin, self.local.stamper
        self.local.onFirst, self.local.onLast = self._first, self._last
        self.local.readiness = self._whenSubscribed
        self.endpointText, self.prefix = endpoint, prefix
        self.initialDelay, self.maxDelay = initialDelay, maxDelay
        self.state = IDLE
        self._connections: list[_Connection] = []
        self._publisher = self._listener = None
        self._pressure = _Backpressure(self)
        self._confirmed: set[str] = set()  # channels subscribed on the current listener
        self._waiting: dict[str, list[defer.Deferred]] = {}
        self._dropped: dict[tuple[str, str], Envelope] = {}
        self._downSince = 0.0
        self.published = self.dropped = self.received = self.ignored = self.rejected = 0

    # --- IChangeBus -----------------------------------------------------------------
    def publish(self, envelope: Envelope) -> None:
        self.local.publish(envelope)
        publisher = self._publisher
        if publisher is None or self._pressure.paused:
            self._drop(envelope)
            return
        self._send(publisher, envelope)

    def subscribe(self, user: str, mailbox: str, receiver):
        return self.local.subscribe(user, mailbox, receiver)

    # --- the service ------------------------------------------------------------------
    def startService(self) -> None:
        from twisted.internet import reactor

        from idlemail.client.endpoints import clientEndpoint
        super().startService()
        endpoint = clientEndpoint(reactor, self.endpointText)
        self.state = CONNECTING
        self._downSince = reactor.seconds()
        for protocol in (_Publisher, _Listener):
            connection = _Connection(self, protocol, self.initialDelay, self.maxDelay)
            self._connections.append(connection)
            connection.startConnecting(endpoint)

    def stopService(self):
        super().stopService()
        self.state = IDLE
        connections, self._connections = self._connections, []
        self._releaseWaiters()
        return defer.gatherResults([c.disconnect() for c in connections], consumeErrors=True)

    # --- connections ------------------------------------------------------------------
    def _ready(self, protocol) -> None:
        if self.state == IDLE or not protocol.connected:
            return
        if isinstance(protocol, _Listener):
            self._listener = protocol
            self._subscribeAll(protocol)
        else:
            self._publisher = protocol
            protocol.transport.registerProducer(self._pressure, True)
            self._pressure.paused = False
            self._flushDropped()
        self._checkUp()

    def _lost(self, protocol) -> None:
        if protocol is self._publisher:
            self._publisher = None
        elif protocol is self._listener:
            self._listener = None
            self._confirmed.clear()
            self._releaseWaiters()  # a resync follows the reconnect
        else:
            return
        if self.state == UP:
            self._goneDown("connection lost")

    def _failedAttempt(self) -> None:
        if self.state == CONNECTING:
            self._goneDown("cannot connect")

    def _goneDown(self, what: str) -> None:
        from twisted.internet import reactor
        self.state = DOWN
        self._downSince = reactor.seconds()
        log.warn("Redis bus {endpoint}: {what}; changes reach this process's sessions only "
                 "until it is back (retrying with backoff)",
                 endpoint=self.endpointText, what=what)

    def _checkUp(self) -> None:
        if self._publisher is None or self._listener is None or self.state == UP:
            return
        from twisted.internet import reactor
        if self.state == DOWN:
            log.info("Redis bus {endpoint}: connected again after {seconds:.1f} s",
                     endpoint=self.endpointText, seconds=reactor.seconds() - self._downSince)
        else:
            log.info("Redis bus {endpoint}: connected (origin {origin})",
                     endpoint=self.endpointText, origin=self.origin)
        self.state = UP

    # --- subscriptions ----------------------------------------------------------------
    def channel(self, user: str, mailbox: str) -> str:
        return channelName(user, mailbox, self.prefix)

    def _first(self, user: str, mailbox: str) -> None:
        if self._listener is not None:
            self._subscribe(self._listener, self.channel(user, mailbox))

    def _last(self, user: str, mailbox: str) -> None:
        channel = self.channel(user, mailbox)
        self._confirmed.discard(channel)
        for waiter in self._waiting.pop(channel, ()):
            waiter.callback(None)
        if self._listener is not None:
            try:
                self._listener.unsubscribe(channel).addErrback(lambda failure: None)
            except txredisapi.ConnectionError:
                pass

    def _subscribe(self, listener, channel: str) -> defer.Deferred:
        # One channel per command: txredisapi pairs each reply with one waiting command.
        try:
            d = listener.subscribe(channel)
        except txredisapi.ConnectionError:
            return defer.succeed(None)
        return d.addCallbacks(lambda _: self._subscribed(listener, channel),
                              lambda failure: self._refused(listener, channel, failure))

    def _subscribed(self, listener, channel: str) -> None:
        if listener is not self._listener:
            return
        self._confirmed.add(channel)
        for waiter in self._waiting.pop(channel, ()):
            waiter.callback(None)

    def _refused(self, listener, channel: str, failure) -> None:
        # Lost with the connection (a resync follows the reconnect), or refused by Redis
        # (an ACL): the session that waits to read the store goes on either way.
        if listener is self._listener and not failure.check(txredisapi.ConnectionError):
            log.warn("Redis bus {endpoint}: SUBSCRIBE {channel} refused: {why}; its changes "
                     "from other processes are not heard", endpoint=self.endpointText,
                     channel=channel, why=failure.getErrorMessage())
        for waiter in self._waiting.pop(channel, ()):
            waiter.callback(None)

    def _subscribeAll(self, listener) -> None:
        pending = [self._subscribe(listener, self.channel(user, mailbox))
                   for user, mailbox in self.local.mailboxes()]

        def resync(_):
            if listener is self._listener and pending:
                count = self.local.resyncAll()
                log.info("Redis bus {endpoint}: resynced {count} subscribers",
                         endpoint=self.endpointText, count=count)
        defer.gatherResults(pending, consumeErrors=True).addBoth(resync)

    def _whenSubscribed(self, user: str, mailbox: str) -> defer.Deferred:
        channel = self.channel(user, mailbox)
        if self._listener is None or channel in self._confirmed:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiting.setdefault(channel, []).append(waiter)
        return waiter

    def _releaseWaiters(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for waiters in waiting.values():
            for waiter in waiters:
                waiter.callback(None)

    # --- envelopes ----------------------------------------------------------------------
    def _send(self, publisher, envelope: Envelope) -> None:
        try:
            data = encodeEnvelope(envelope)
        except Exception:
            log.failure("Cannot encode a change of {user}'s {mailbox} for the bus",
                        user=envelope.user, mailbox=envelope.mailbox)
            return
        try:
            d = publisher.publish(self.channel(envelope.user, envelope.mailbox), data)
        except txredisapi.ConnectionError:
            self._drop(envelope)
            return
        self.published += 1
        d.addErrback(lambda failure: self._drop(envelope))

    def _drop(self, envelope: Envelope) -> None:
        # Only the last one per mailbox: sent later, it shows the others a gap, or is
        # simply the next change to one that missed nothing.
        self.dropped += 1
        self._dropped[(envelope.user, envelope.mailbox)] = envelope

    def _flushDropped(self) -> None:
        publisher = self._publisher
        if publisher is None or not self._dropped:
            return
        dropped, self._dropped = self._dropped, {}
        for envelope in dropped.values():
            self._send(publisher, envelope)

    def _received(self, channel, message) -> None:
        try:
            envelope = decodeEnvelope(message)
        except BadEnvelope as e:
            self.rejected += 1
            log.warn("Redis bus {endpoint}: not an envelope on {channel}: {why}",
                     endpoint=self.endpointText, channel=channel, why=str(e))
            return
        if envelope.origin == self.origin:
            self.ignored += 1
            return
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        if channel != self.channel(envelope.user, envelope.mailbox):
            self.rejected += 1
            log.warn("Redis bus {endpoint}: an envelope for {user}'s {mailbox} came on "
                     "{channel}; dropped", endpoint=self.endpointText, user=envelope.user,
                     mailbox=envelope.mailbox, channel=channel)
            return
        self.received += 1
        self.local.deliver(envelope)


def publishOnce(reactor, endpoint: str, envelope: Envelope, timeout: float = 5.0,
                prefix: str = CHANNEL_PREFIX) -> defer.Deferred:
    """
    Connect to the Redis at C{endpoint}, PUBLISH C{envelope} on its mailbox's channel and
    disconnect (C{idlemail notify-change}, an MDA's hook). Fires with the number of
    processes that received it, or fails within C{timeout} seconds.
    """
    from twisted.internet.protocol import Factory

    from idlemail.client.endpoints import clientEndpoint

    async def publish():
        proto = await clientEndpoint(reactor, endpoint).connect(
            Factory.forProtocol(txredisapi.RedisProtocol))
        try:
            await proto.whenConnected()
            return await proto.publish(channelName(envelope.user, envelope.mailbox, prefix),
                                       encodeEnvelope(envelope))
        finally:
            proto.transport.loseConnection()
    return defer.ensureDeferred(publish()).addTimeout(timeout, reactor)
