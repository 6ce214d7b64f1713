"""
A raw line client over a real socket, for asserting exact server responses, and a
way to run blocking clients (imaplib, IMAPClient) in a thread while the reactor runs.
"""

from __future__ import annotations

import socket
import time

from twisted.internet import threads

DEADLINE = 10.0


def inThread(fn, *args, **kwargs):
    """Run a blocking client function in a thread; returns a Deferred."""
    return threads.deferToThread(fn, *args, **kwargs)


class RawClient:
    """Speaks bytes to the server; every read has a deadline."""

    def __init__(self, host: str, port: int, timeout: float = DEADLINE):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""
        self.greeting = self.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def readline(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; had {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def readUntilTagged(self, tag: bytes) -> list[bytes]:
        """Lines up to and including the tagged response for C{tag}."""
        lines = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines
        raise TimeoutError(f"no tagged response for {tag!r}: {lines!r}")

    def command(self, tag: bytes, text: bytes) -> list[bytes]:
        self.send(tag + b" " + text + b"\r\n")
        return self.readUntilTagged(tag)

    def login(self, user=b"alice", password=b"alicepw") -> None:
        assert self.command(b"L", b"LOGIN " + user + b" " + password)[-1].startswith(b"L OK")

    def close(self) -> None:
        self.sock.close()


def run(server, script, user=b"alice", password=b"alicepw"):
    """Run C{script(client)} on a logged-in raw client in a thread; a Deferred."""
    def go():
        c = RawClient(server.host, server.port)
        try:
            c.login(user, password)
            return script(c)
        finally:
            c.close()
    return inThread(go)


def ok(lines, tag=b"a"):
    """The untagged lines of a response that must end in a tagged OK."""
    assert lines[-1].startswith(tag + b" OK"), lines
    return lines[:-1]


def appendCommand(mailbox: bytes, message: bytes, flags: bytes = b"") -> bytes:
    """An APPEND with a non-synchronizing literal (RFC 7888), one line to send."""
    flags = b"(" + flags + b") " if flags else b""
    return b"APPEND " + mailbox + b" " + flags + b"{%d+}\r\n" % len(message) + message


def answeredYet(client: RawClient, tag: bytes) -> bool:
    """Whether the tagged answer for C{tag} has arrived at C{client} (read without waiting)."""
    client.sock.setblocking(False)
    try:
        while True:
            chunk = client.sock.recv(1 << 20)
            if not chunk:
                break
            client.buffer += chunk
    except BlockingIOError:
        pass
    finally:
        client.sock.settimeout(DEADLINE)
    return any(line.startswith(tag + b" ") for line in (b"\r\n" + client.buffer).split(b"\r\n"))


def servedWhileBusy(server, busy: RawClient, tag: bytes) -> tuple[list[bytes], bool]:
    """
    While C{busy} waits for the answer to its command C{tag}: a new client connects, is
    greeted and has its NOOP answered. Returns that exchange (greeting first) and whether
    C{busy}'s answer had arrived by the time it was done.
    """
    other = RawClient(server.host, server.port)
    try:
        exchange = [other.greeting] + other.command(b"n", b"NOOP")
    finally:
        other.close()
    return exchange, answeredYet(busy, tag)


def commands(client: RawClient, lines, prefix: bytes = b"A") -> list[list[bytes]]:
    """Send each line as a command tagged A0, A1, ...; the answer to each."""
    return [client.command(prefix + b"%d" % i, line) for i, line in enumerate(lines)]


def untagged(answers, prefix: bytes = b"A") -> list[list[bytes]]:
    """The untagged lines of each answer of L{commands}; each must end in a tagged OK."""
    return [ok(a, prefix + b"%d" % i) for i, a in enumerate(answers)]
