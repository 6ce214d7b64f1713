"""
Listening endpoints get a backlog of 1024 unless their string sets one (Twisted's 50
overflowed when 5,000 clients reconnected at once).
"""

import shutil
import subprocess

import pytest
from twisted.internet import reactor

from idlemail.listen import DEFAULT_BACKLOG, serverEndpoint, withBacklog
from idlemail.testing.certs import selfSigned
from tests.test_plugin import freePort, stop, twistd, waitForPort


@pytest.mark.parametrize("description, backlog", [
    ("tcp:1143:interface=127.0.0.1", 1024),
    ("tcp:1143:interface=127.0.0.1:backlog=20", 20),
    ("tcp:backlog=7:1143", 7),
    ("tcp6:1143:interface=\\:\\:1", 1024),
    ("unix:/tmp/idlemail-test.sock", 1024),
])
def test_the_parsed_endpoint_carries_the_backlog(description, backlog):
    endpoint = serverEndpoint(reactor, description, "--listen")
    assert endpoint._backlog == backlog  # what listen(2) will be given


def test_an_ssl_endpoint_gets_the_backlog_too(tmp_path):
    pem = selfSigned(tmp_path)
    endpoint = serverEndpoint(reactor, f"ssl:993:privateKey={pem}", "--listen")
    assert endpoint._backlog == DEFAULT_BACKLOG


def test_strings_without_a_backlog_are_left_alone():
    assert withBacklog("systemd:domain=INET:index=0") == "systemd:domain=INET:index=0"
    assert withBacklog("tcp:1143:backlog=5") == "tcp:1143:backlog=5"
    assert withBacklog("tcp:1143") == "tcp:1143:backlog=1024"


@pytest.mark.skipif(not shutil.which("ss"), reason="ss (iproute2) is not installed")
def test_the_kernel_listen_queue_is_1024(tmp_path):
    """ss shows a listening socket's backlog as its Send-Q."""
    port = freePort()
    proc = twistd(tmp_path, "--listen", f"tcp:{port}:interface=127.0.0.1")
    try:
        waitForPort(port, proc)
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
    finally:
        stop(proc)
    limit = int(open("/proc/sys/net/core/somaxconn").read())
    assert out.split()[2] == str(min(1024, limit)), out
