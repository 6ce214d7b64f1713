"""
A real Redis (Debian's redis-server) for tests and benchmarks: a private config (loopback
only, no persistence, its own directory), one free port, stopped by its own pid. A test may
kill it and start it again on the same port, as an outage looks to its clients.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from idlemail.testing.dovecot import freePort

REDIS = shutil.which("redis-server", path="/usr/bin:/usr/sbin:/bin:/sbin") or "/usr/bin/redis-server"

CONFIG = """\
bind 127.0.0.1
port {port}
protected-mode yes
daemonize no
dir {dir}
logfile {dir}/redis.log
save ""
appendonly no
databases 1
"""


class RedisServer:
    host = "127.0.0.1"

    def __init__(self, workdir: Path | None = None, port: int | None = None):
        self.ownsWorkdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="idlemail-redis-"))
        self.port = port or freePort()
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return os.access(REDIS, os.X_OK)

    @property
    def endpoint(self) -> str:
        """The Twisted client endpoint string of this server."""
        return f"tcp:{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 20.0) -> "RedisServer":
        """Start (or start again, on the same port) and wait until it answers PING."""
        conf = self.workdir / "redis.conf"
        conf.write_text(CONFIG.format(port=self.port, dir=self.workdir))
        self.proc = subprocess.Popen([REDIS, str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}): {self.log}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on {self.port} in {timeout} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: gone at once, its clients' connections reset, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def cleanup(self) -> None:
        self.stop()
        if self.ownsWorkdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
