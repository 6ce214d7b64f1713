"""
Prometheus metrics, scraped over HTTP as Prometheus does: live gauges read from a real
server with a logged-in idling client, the counters of the metrics API, and the
C{[metrics]} table of a config run by twistd.
"""

import time
import urllib.request

import pytest_twisted
import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.application.service import MultiService

from idlemail.backends.maildir.backend import MaildirBackend
from idlemail.metrics import MAX_LABEL_VALUES, Metrics
from idlemail.metricsservice import MetricsService
from idlemail.passwd import PasswdFile
from idlemail.server.service import IMAPServerService
from tests.server.clients import RawClient, inThread
from tests.test_plugin import freePort, memoryServer, stop, twistd, waitForPort


def samples(text: str) -> dict:
    """{(name, (label values...)): value} of a scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(port: int) -> dict:
    response = await treq.get(f"http://127.0.0.1:{port}/metrics")
    assert response.code == 200
    assert response.headers.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
    return samples(await treq.text_content(response))


def serve(metrics, backend, **settings):
    """A metrics endpoint and an IMAP server over C{backend}, started; returns ports + top."""
    imapPort, metricsPort = freePort(), freePort()
    top = MultiService()
    MetricsService(metrics, f"tcp:{metricsPort}:interface=127.0.0.1",
                   "metrics.listen").setServiceParent(top)
    IMAPServerService(backend, [f"tcp:{imapPort}:interface=127.0.0.1"],
                      metrics=metrics, **settings).setServiceParent(top)
    top.startService()
    return imapPort, metricsPort, top


def maildir(tmp_path):
    PasswdFile(tmp_path / "passwd").setPassword("alice", "alicepw", "PLAIN")
    return MaildirBackend(tmp_path, tmp_path / "passwd", linger=0.1)  # released soon


def state(name):
    return ("idlemail_connections", (("state", name),))


@pytest_twisted.ensureDeferred
async def test_a_scrape_shows_connections_idlers_folders_and_watches(tmp_path):
    imapPort, metricsPort, top = serve(Metrics(), maildir(tmp_path))
    try:
        def idle():
            client = RawClient("127.0.0.1", imapPort)
            client.send(b"a LOGIN alice alicepw\r\nb SELECT INBOX\r\nc IDLE\r\n")
            client.readUntilTagged(b"b")
            assert client.readline() == b"+ idling"
            return client
        idler = await inThread(idle)
        waiting = await inThread(RawClient, "127.0.0.1", imapPort)  # greeted, not logged in
        seen = await scrape(metricsPort)
        assert seen[state("selected")] == 1
        assert seen[state("not_authenticated")] == 1
        assert seen[state("authenticated")] == 0
        assert seen[("idlemail_idlers", ())] == 1
        assert seen[("idlemail_open_folders", ())] == 1
        assert seen[("idlemail_inotify_watches", ())] == 2  # new/ and cur/ of INBOX
        assert seen[("idlemail_build_info", (("version", "0.1.0"),))] == 1
        assert seen[("process_resident_memory_bytes", ())] > 0

        def done():
            idler.send(b"d DONE\r\ne LOGOUT\r\n")
            idler.readUntilTagged(b"e")
            waiting.send(b"f LOGOUT\r\n")
            waiting.readUntilTagged(b"f")
        await inThread(done)
        deadline = time.monotonic() + 10
        while ((seen := await scrape(metricsPort))[state("selected")]
               or seen[("idlemail_open_folders", ())]):  # a folder stays open a moment
            assert time.monotonic() < deadline, seen
        assert seen[("idlemail_idlers", ())] == 0 and seen[("idlemail_open_folders", ())] == 0
    finally:
        await top.stopService()


@pytest_twisted.ensureDeferred
async def test_the_server_counts_logins_commands_and_pushes_as_they_happen(tmp_path):
    # No 2 s wait after the wrong password.
    imapPort, metricsPort, top = serve(Metrics(), maildir(tmp_path), authFailureDelay=0)
    try:
        def session():
            idler = RawClient("127.0.0.1", imapPort)
            assert idler.command(b"a", b"LOGIN alice wrong")[-1].startswith(b"a NO")
            idler.login()
            idler.command(b"b", b"SELECT INBOX")
            idler.command(b"c", b"NOPE")
            idler.send(b"d IDLE\r\n")
            assert idler.readline() == b"+ idling"
            other = RawClient("127.0.0.1", imapPort)
            other.login()
            other.command(b"e", b"APPEND INBOX {14}\r\nSubject: x\r\n\r\n")
            assert idler.readline() == b"* 1 EXISTS"
            idler.send(b"DONE\r\n")
            idler.readUntilTagged(b"d")
            return idler, other
        idler, other = await inThread(session)
        seen = await scrape(metricsPort)
        idler.close()
        other.close()
    finally:
        await top.stopService()
    assert seen[("idlemail_logins_total", (("result", "ok"),))] == 2
    assert seen[("idlemail_logins_total", (("result", "failed"),))] == 1
    assert seen[("idlemail_commands_total", (("command", "SELECT"), ("result", "OK")))] == 1
    assert seen[("idlemail_commands_total", (("command", "NOPE"), ("result", "BAD")))] == 1
    assert seen[("idlemail_commands_total", (("command", "APPEND"), ("result", "OK")))] == 1
    assert seen[("idlemail_commands_total", (("command", "IDLE"), ("result", "OK")))] == 1
    assert seen[("idlemail_pushes_total", ())] >= 2  # EXISTS and RECENT
    assert seen[("idlemail_push_latency_seconds_count", ())] >= 1


@pytest_twisted.ensureDeferred
async def test_the_counters_of_the_metrics_api(tmp_path):
    metrics = Metrics()
    _, metricsPort, top = serve(metrics, maildir(tmp_path))
    try:
        metrics.pushSent(3)
        metrics.pushLatency(0.002)
        metrics.login(True)
        metrics.login(False)
        metrics.login(False)
        metrics.command("fetch", "OK")
        metrics.command("FETCH", "bad")
        metrics.notifierEvent("message.new")
        metrics.sinkFailure("webhook")
        seen = await scrape(metricsPort)
    finally:
        await top.stopService()
    assert seen[("idlemail_pushes_total", ())] == 3
    assert seen[("idlemail_push_latency_seconds_count", ())] == 1
    assert seen[("idlemail_push_latency_seconds_bucket", (("le", "0.001"),))] == 0
    assert seen[("idlemail_push_latency_seconds_bucket", (("le", "0.0025"),))] == 1
    assert seen[("idlemail_logins_total", (("result", "ok"),))] == 1
    assert seen[("idlemail_logins_total", (("result", "failed"),))] == 2
    assert seen[("idlemail_commands_total", (("command", "FETCH"), ("result", "OK")))] == 1
    assert seen[("idlemail_commands_total", (("command", "FETCH"), ("result", "BAD")))] == 1
    assert seen[("idlemail_notifier_events_total", (("kind", "message.new"),))] == 1
    assert seen[("idlemail_notifier_sink_failures_total", (("sink", "webhook"),))] == 1


def test_client_chosen_command_names_cannot_explode_the_labels():
    metrics = Metrics(processStats=False)
    for i in range(MAX_LABEL_VALUES + 50):
        metrics.command(f"X{i}", "BAD")
    metrics.command("\r\n* OK injected", "BAD")
    metrics.command("noop", "OK")  # a known command after the flood still counts as itself
    from prometheus_client import generate_latest
    seen = samples(generate_latest(metrics.registry).decode())
    names = {dict(labels)["command"] for (name, labels) in seen
             if name == "idlemail_commands_total"}
    assert len(names) == MAX_LABEL_VALUES + 2  # the first 64 unknown ones, OTHER, NOOP
    assert seen[("idlemail_commands_total", (("command", "OTHER"), ("result", "BAD")))] == 51
    assert seen[("idlemail_commands_total", (("command", "NOOP"), ("result", "OK")))] == 1


def test_each_service_has_its_own_registry():
    one, two = Metrics(processStats=False), Metrics(processStats=False)
    one.pushSent(5)
    from prometheus_client import REGISTRY, generate_latest
    assert samples(generate_latest(two.registry).decode())[("idlemail_pushes_total", ())] == 0
    assert b"idlemail_pushes" not in generate_latest(REGISTRY)


def test_twistd_serves_metrics_from_the_config(tmp_path):
    imapPort, metricsPort = freePort(), freePort()
    (tmp_path / "idlemail.toml").write_text(
        memoryServer(imapPort) + f'[metrics]\nlisten = "tcp:{metricsPort}:interface=127.0.0.1"\n')
    proc = twistd(tmp_path, "--config", "idlemail.toml")
    try:
        waitForPort(imapPort, proc)
        client = RawClient("127.0.0.1", imapPort)
        with urllib.request.urlopen(f"http://127.0.0.1:{metricsPort}/metrics", timeout=10) as r:
            seen = samples(r.read().decode())
        with urllib.request.urlopen(f"http://127.0.0.1:{metricsPort}/", timeout=10) as r:
            raise AssertionError(f"/ should be 404, got {r.status}")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    finally:
        log = stop(proc).decode()
    client.sock.close()
    assert seen[state("not_authenticated")] == 1
    assert "GET /metrics" not in log  # no access-log line per scrape
