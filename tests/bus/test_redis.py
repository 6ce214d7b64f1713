"""
RedisBus over a real redis-server: two buses in one test stand for two processes (each has
its own origin and its own two connections, as a process would).
"""

import socket
import time
from contextlib import contextmanager

import pytest_twisted
from twisted.internet import reactor, task
from twisted.logger import LogLevel, globalLogPublisher

from idlemail.bus.envelope import EnvelopeStamper
from idlemail.bus.receiver import SequencedReceiver
from idlemail.bus.redis import DOWN, UP, RedisBus, channelName
from idlemail.events import MessagesAdded


class Heard:
    """A receiver that writes down what it hears."""

    def __init__(self):
        self.what = []

    def changed(self, envelope):
        self.what.append((envelope.origin, envelope.mailbox, envelope.seq))

    def resync(self):
        self.what.append("resync")


async def until(check, seconds=10.0):
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    assert check()


@contextmanager
def busWarnings():
    events = []

    def observe(event):
        if (event.get("log_namespace") == "idlemail.bus.redis"
                and event.get("log_level") == LogLevel.warn):
            events.append(event)
    globalLogPublisher.addObserver(observe)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observe)


@contextmanager
def buses(endpoint, count=2):
    started = [RedisBus(endpoint, initialDelay=0.05, maxDelay=0.3) for _ in range(count)]
    for bus in started:
        bus.startService()
    try:
        yield started
    finally:
        for bus in started:
            bus.stopService()


def redisSays(redis, command: bytes) -> bytes:
    """One command to the real Redis over a raw socket; its raw reply."""
    with socket.create_connection((redis.host, redis.port), timeout=5) as raw:
        raw.sendall(command + b"\r\n")
        time.sleep(0.05)
        return raw.recv(4096)


async def sequencedReceiverOf(b, a):
    """What B's SequencedReceiver of alice's INBOX hears, the receiver, and A's stamper."""
    heard = Heard()
    receiver = SequencedReceiver(heard.changed, heard.resync)
    await b.subscribe("alice", "INBOX", receiver).whenReady()
    return heard, receiver, EnvelopeStamper(a.origin)


def added(stamper, mailbox="INBOX", user="alice", uid=1):
    return stamper.stamp(user, mailbox, 7, MessagesAdded((uid,)))


@pytest_twisted.ensureDeferred
async def test_envelopes_reach_the_other_process_for_subscribed_mailboxes_only(redis):
    with buses(redis.endpoint) as (a, b):
        await until(lambda: a.state == b.state == UP)
        heard = Heard()
        subscription = b.subscribe("alice", "INBOX", heard)
        await subscription.whenReady()
        stamp = EnvelopeStamper(a.origin)
        a.publish(added(stamp, "Sent"))
        a.publish(added(stamp, user="bob"))
        a.publish(added(stamp))
        await until(lambda: heard.what)
        # One publisher connection, one listener: Redis keeps the order, so the two
        # envelopes before this one would have arrived first had they been delivered.
        assert heard.what == [(a.origin, "INBOX", 1)]
        # Redis itself knows of the one subscribed channel only (B's; A subscribes to none).
        assert redisSays(redis, b"PUBSUB CHANNELS *").endswith(
            b"\r\n" + channelName("alice", "INBOX").encode() + b"\r\n")
        assert redisSays(redis, b"PUBSUB NUMSUB " + channelName("alice", "INBOX").encode()
                         ).endswith(b":1\r\n")
        subscription.unsubscribe()
        await until(lambda: redisSays(redis, b"PUBSUB CHANNELS *") == b"*0\r\n")
        a.publish(added(stamp))
        b.subscribe("alice", "Sent", heard)
        await until(lambda: b._confirmed)
        a.publish(added(stamp, "Sent"))
        await until(lambda: len(heard.what) == 2)
        assert heard.what[1] == (a.origin, "Sent", 2)  # nothing more from INBOX


@pytest_twisted.ensureDeferred
async def test_own_envelopes_are_delivered_once_locally_and_not_again(redis):
    with buses(redis.endpoint) as (a, b):
        await until(lambda: a.state == b.state == UP)
        mine, theirs = Heard(), Heard()
        await a.subscribe("alice", "INBOX", mine).whenReady()
        await b.subscribe("alice", "INBOX", theirs).whenReady()
        a.publish(added(EnvelopeStamper(a.origin)))
        assert mine.what == [(a.origin, "INBOX", 1)]  # synchronously, before Redis
        b.publish(added(EnvelopeStamper(b.origin)))
        await until(lambda: len(mine.what) == 2 and len(theirs.what) == 2)
        assert mine.what == [(a.origin, "INBOX", 1), (b.origin, "INBOX", 1)]
        assert theirs.what == [(b.origin, "INBOX", 1), (a.origin, "INBOX", 1)]
        assert (a.ignored, b.ignored) == (1, 1)


@pytest_twisted.ensureDeferred
async def test_a_gap_in_the_sequence_makes_the_receiver_resync(redis):
    with buses(redis.endpoint) as (a, b):
        await until(lambda: a.state == b.state == UP)
        heard, receiver, stamp = await sequencedReceiverOf(b, a)
        a.publish(added(stamp, uid=1))
        added(stamp, uid=2)  # stamped but never sent: lost on the way
        a.publish(added(stamp, uid=3))
        a.publish(added(stamp, uid=4))
        await until(lambda: len(heard.what) == 3)
        assert heard.what == [(a.origin, "INBOX", 1), "resync", (a.origin, "INBOX", 4)]
        assert receiver.gaps == 1


@pytest_twisted.ensureDeferred
async def test_what_is_not_an_envelope_is_logged_and_dropped(redis):
    with buses(redis.endpoint, 1) as (b,), busWarnings() as warnings:
        await until(lambda: b.state == UP)
        heard = Heard()
        await b.subscribe("alice", "INBOX", heard).whenReady()
        with socket.create_connection((redis.host, redis.port), timeout=5) as raw:
            channel = channelName("alice", "INBOX").encode()
            raw.sendall(b"PUBLISH %s {not-json\r\n" % channel)
            assert raw.recv(100) == b":1\r\n"
        await until(lambda: b.rejected == 1)
        assert heard.what == []
        assert "not an envelope" in warnings[0]["log_format"]


@pytest_twisted.ensureDeferred
async def test_redis_down_publishing_goes_on_locally_and_after_it_is_back_everyone_resyncs(redis):
    with buses(redis.endpoint) as (a, b), busWarnings() as warnings:
        await until(lambda: a.state == b.state == UP)
        mine, theirs = Heard(), Heard()
        await a.subscribe("alice", "INBOX", mine).whenReady()
        await b.subscribe("alice", "INBOX", theirs).whenReady()
        redis.kill()
        await until(lambda: a.state == b.state == DOWN)
        stamp = EnvelopeStamper(a.origin)
        for uid in (1, 2, 3):
            a.publish(added(stamp, uid=uid))  # never raises
        assert mine.what == [(a.origin, "INBOX", 1), (a.origin, "INBOX", 2),
                             (a.origin, "INBOX", 3)]
        await task.deferLater(reactor, 1.0, lambda: None)  # several retries meanwhile
        assert [w["what"] for w in warnings] == ["connection lost", "connection lost"]
        redis.start()
        await until(lambda: a.state == b.state == UP and "resync" in mine.what
                    and "resync" in theirs.what)
        assert len(warnings) == 2  # the outage was logged once per process
        assert a.dropped == 3


@pytest_twisted.ensureDeferred
async def test_changes_a_publisher_could_not_send_show_the_others_a_gap(redis):
    """Only the publishing connection is cut: the listener heard nothing wrong, and the
    last unsent envelope, sent on reconnect, is what tells it to resync."""
    with buses(redis.endpoint) as (a, b):
        await until(lambda: a.state == b.state == UP)
        heard, receiver, stamp = await sequencedReceiverOf(b, a)
        a.publish(added(stamp, uid=1))
        await until(lambda: heard.what)
        with socket.create_connection((redis.host, redis.port), timeout=5) as raw:
            # Not B's listener: a subscribed connection is of TYPE pubsub.
            raw.sendall(b"CLIENT KILL TYPE normal SKIPME yes\r\n")
            assert raw.recv(100) in (b":2\r\n", b":3\r\n")  # A's listener has no channel
        await until(lambda: a.state == DOWN)
        a.publish(added(stamp, uid=2))
        a.publish(added(stamp, uid=3))
        await until(lambda: len(heard.what) == 2)
        assert heard.what == [(a.origin, "INBOX", 1), "resync"]
        assert receiver.gaps == 1
        # B's own publishing connection was cut too (it is of TYPE normal): it comes back.
        await until(lambda: b.state == UP)


@pytest_twisted.ensureDeferred
async def test_a_redis_that_is_not_there_yet_is_logged_once_and_joined_later(redis):
    redis.kill()
    with buses(redis.endpoint, 1) as (bus,), busWarnings() as warnings:
        heard = Heard()
        await bus.subscribe("alice", "INBOX", heard).whenReady()  # at once: not connected
        await until(lambda: bus.state == DOWN)
        bus.publish(added(EnvelopeStamper(bus.origin)))
        assert heard.what == [(bus.origin, "INBOX", 1)]
        await task.deferLater(reactor, 1.0, lambda: None)
        assert [w["what"] for w in warnings] == ["cannot connect"]
        redis.start()
        await until(lambda: bus.state == UP and heard.what[-1] == "resync")
        assert bus._confirmed == {channelName("alice", "INBOX")}


@pytest_twisted.ensureDeferred
async def test_a_subscribe_redis_refuses_is_logged_and_does_not_hold_up_the_session(redis):
    allowed = channelName("alice", "INBOX")
    assert redisSays(redis, b"ACL SETUSER default resetchannels &" + allowed.encode()
                     ) == b"+OK\r\n"
    with busWarnings() as warnings, buses(redis.endpoint, count=1) as (bus,):
        await until(lambda: bus.state == UP)
        # The Deferred the backend waits for before reading the store fires either way.
        await bus.subscribe("alice", "Sent", Heard()).whenReady()
        assert [e["why"] for e in warnings if "refused" in e["log_format"]] and \
            "NOPERM" in warnings[-1]["why"]
        await bus.subscribe("alice", "INBOX", Heard()).whenReady()
        assert bus._confirmed == {allowed}
