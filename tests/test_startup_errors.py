"""
Every startup mistake is one line on stderr naming the file, key or endpoint, a non-zero
exit, and nothing left behind (no ./idlemail-data, no twistd.pid): twistd in a subprocess,
as a user runs it.
"""

import os
import socket
import subprocess
import sys

import pytest

from tests.test_plugin import REPO, TWISTD, freePort


def runTwistd(cwd, *args, env=None, timeout=60):
    """twistd -n idlemail ARGS with its default pid file (so that a leftover would show)."""
    return subprocess.run(
        [sys.executable, "-c", TWISTD, "-n", "idlemail", *args], cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": REPO, **(env or {})})


def assertOneLine(done, line: str, status: int) -> None:
    assert (done.stderr, done.returncode) == (line + "\n", status), done.stdout + done.stderr
    assert "Traceback" not in done.stdout


def listening():
    """A socket listening on a free loopback port (the 'other server')."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_port_in_use_is_one_line_and_creates_nothing(tmp_path):
    with listening() as other:
        port = other.getsockname()[1]
        done = runTwistd(tmp_path, "--listen", f"tcp:{port}:interface=127.0.0.1")
    assertOneLine(done, f"idlemail: --listen: 'tcp:{port}:interface=127.0.0.1': cannot listen "
                        f"on 127.0.0.1:{port}: address already in use (is another idlemail or "
                        f"IMAP server running? stop it or choose another port)", 1)
    assert os.listdir(tmp_path) == []  # no idlemail-data with a demo user, no twistd.pid


def test_port_in_use_as_a_daemon_is_reported_by_the_parent_and_logged(tmp_path):
    """Without -n, twistd's parent waits for the daemon to say how its start went."""
    with listening() as other:
        port = other.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", TWISTD, "--pidfile=idlemail.pid", "--logfile=idlemail.log",
             "idlemail", "--listen", f"tcp:{port}:interface=127.0.0.1"], cwd=tmp_path,
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    line = (f"idlemail: --listen: 'tcp:{port}:interface=127.0.0.1': cannot listen on "
            f"127.0.0.1:{port}: address already in use")
    assert done.returncode == 1
    assert done.stderr.startswith(f"An error has occurred: b\"{line[:60]}"), done.stderr
    assert line in (tmp_path / "idlemail.log").read_text()
    assert os.listdir(tmp_path) == ["idlemail.log"]  # no pid file, no data


def test_port_in_use_names_the_config_key(tmp_path):
    with listening() as other:
        port = other.getsockname()[1]
        (tmp_path / "idlemail.toml").write_text(
            f'[server]\nlisten = ["tcp:{port}:interface=127.0.0.1"]\n')
        done = runTwistd(tmp_path, "--config", "idlemail.toml")
    assert done.stderr.startswith(f"idlemail: idlemail.toml: server.listen: "
                                  f"'tcp:{port}:interface=127.0.0.1': cannot listen"), done.stderr
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["idlemail.toml"]


def test_metrics_port_in_use_stops_the_start_before_the_demo_data(tmp_path):
    imap = freePort()
    with listening() as other:
        port = other.getsockname()[1]
        (tmp_path / "idlemail.toml").write_text(
            f'[server]\nlisten = ["tcp:{imap}:interface=127.0.0.1"]\n'
            f'[server.maildir]\nroot = "./idlemail-data"\n'
            f'[metrics]\nlisten = "tcp:{port}:interface=127.0.0.1"\n')
        done = runTwistd(tmp_path, "--config", "idlemail.toml")
    assertOneLine(done, f"idlemail: idlemail.toml: metrics.listen: "
                        f"'tcp:{port}:interface=127.0.0.1': cannot listen on 127.0.0.1:{port}: "
                        f"address already in use (is another idlemail or IMAP server running? "
                        f"stop it or choose another port)", 1)
    assert sorted(os.listdir(tmp_path)) == ["idlemail.toml"]


def test_missing_tls_certificate_is_named_by_twistd_and_check_config(tmp_path):
    (tmp_path / "idlemail.toml").write_text(
        f'[server]\nlisten = ["tcp:{freePort()}:interface=127.0.0.1"]\n'
        'tls_certificate = "missing.pem"\n')
    line = ("idlemail: idlemail.toml: server.tls_certificate: cannot read missing.pem: "
            "No such file or directory")
    assertOneLine(runTwistd(tmp_path, "--config", "idlemail.toml"), line, 2)
    check = subprocess.run([sys.executable, "-m", "idlemail.cli", "check-config", "--config",
                            "idlemail.toml"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    assertOneLine(check, line, 2)
    assert sorted(os.listdir(tmp_path)) == ["idlemail.toml"]


@pytest.mark.parametrize("endpoint, problem", [
    ("ssl:{port}:privateKey=missing.pem:interface=127.0.0.1",
     "cannot read {cwd}/missing.pem: No such file or directory (privateKey= names a PEM file "
     "with the key and the certificate)"),
    ("tcp:abc", "'abc' is not a number (use e.g. \"tcp:1143:interface=127.0.0.1\")"),
    ("tcp:{port}:iface=127.0.0.1", "tcp: has no option 'iface' (did you mean 'interface'?)"),
    ("tcp:{port}:interface=127.0.0.1:colour=blue",
     "tcp: has no option 'colour' (it takes port, interface, backlog)"),
    ("tpc:{port}", "unknown endpoint type 'tpc' (did you mean 'tcp'?)"),
    ("systemd:domain=INET:index=0",
     "systemd passed no such socket (it passes them in LISTEN_FDS and LISTEN_FDNAMES); start "
     "idlemail from a socket unit such as contrib/idlemail.socket"),
])
def test_a_bad_endpoint_is_one_line(tmp_path, endpoint, problem):
    endpoint = endpoint.format(port=freePort())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    done = subprocess.run([sys.executable, "-c", TWISTD, "-n", "idlemail", "--listen", endpoint],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": REPO})
    assertOneLine(done, f"idlemail: --listen: {endpoint!r}: {problem.format(cwd=tmp_path)}", 2)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("config, line", [
    ("[server]\nlistn = []\n", "server.listn: unknown key (did you mean 'listen'?)"),
    ("[sever]\n", "sever: unknown key (did you mean 'server'?)"),
    ("[server]\nbackend = \"memory\"\n[server.memory]\nuser = {}\n",
     "server.memory.user: unknown key (did you mean 'users'?)"),
    ("[server]\nbackend = \"maildri\"\n",
     "server.backend: unknown backend 'maildri' (did you mean 'maildir'?)"),
    ("[server]\nbackend = \"redis\"\n",
     "server.backend: unknown backend 'redis' (known: maildir, memory, remote)"),
    ("[server]\nidle_keepalive = \"2m\"\nlisten = [\"tcp:1143\"]\nfoo = 1\n",
     "server.foo: unknown key"),
])
def test_a_config_mistake_is_one_line_with_a_hint(tmp_path, config, line):
    (tmp_path / "idlemail.toml").write_text(config)
    assertOneLine(runTwistd(tmp_path, "--config", "idlemail.toml"),
                  f"idlemail: idlemail.toml: {line}", 2)
    assert sorted(os.listdir(tmp_path)) == ["idlemail.toml"]
