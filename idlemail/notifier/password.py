"""
An account's password from its source: the config value, a file, or a command.

The command runs as a child process of the reactor (C{spawnProcess}), never with a
blocking call on the reactor thread: a C{pass} waiting for a GPG agent must not hold up
every other connection of the process. It is killed after C{timeout} seconds.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet import defer, error, protocol

from idlemail.errors import ConfigError

COMMAND_TIMEOUT = 30.0
_KEEP = 64 * 1024  # octets of output kept: a password, not a download


class _PasswordCommand(protocol.ProcessProtocol):
    def __init__(self):
        self.out, self.err = bytearray(), bytearray()
        self.ended = defer.Deferred()

    def connectionMade(self):
        self.transport.closeStdin()

    def outReceived(self, data):
        self.out += data[:_KEEP - len(self.out)]

    def errReceived(self, data):
        self.err += data[:_KEEP - len(self.err)]

    def processEnded(self, reason):
        self.ended.callback(reason.value)


def commandArgv(command) -> list[str]:
    """A list is the argv; a string is a shell command line (C{/bin/sh -c}), as in
    goimapnotify's C{passwordCmd}."""
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return list(command)


async def runPasswordCommand(reactor, command, key: str,
                             timeout: float = COMMAND_TIMEOUT) -> str:
    """The first line of the command's output; L{ConfigError} naming C{key} if it fails."""
    argv = commandArgv(command)
    child = _PasswordCommand()
    try:
        process = reactor.spawnProcess(child, argv[0], argv, env=None)
    except OSError as e:
        raise ConfigError(f"{key}: cannot run {argv[0]}: {e.strerror or e}")

    def kill():
        try:
            process.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass
    killer = reactor.callLater(timeout, kill)
    ended = await child.ended
    timedOut = not killer.active()
    if not timedOut:
        killer.cancel()
    if timedOut:
        raise ConfigError(f"{key}: no answer after {timeout:g} s")
    if isinstance(ended, error.ProcessTerminated):
        why = bytes(child.err).decode("utf-8", "replace").strip()[:200]
        code = ended.exitCode if ended.exitCode is not None else f"signal {ended.signal}"
        raise ConfigError(f"{key}: exited with {code}" + (f": {why}" if why else ""))
    text = bytes(child.out).decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else ""


def readPasswordFile(path: str, key: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as e:
        raise ConfigError(f"{key}: {e.strerror}: {path}")
