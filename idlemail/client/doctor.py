"""
C{idlemail doctor}: connect each notifier account once and say what works.

For every account: the connection (and whether it is TLS), the capabilities, the login,
each mailbox's SELECT/EXAMINE, and one IDLE round trip (IDLE, +, DONE, OK) with its time.
Prints one line per check; exits 0 when every check passed.
"""

from __future__ import annotations

import sys
import time

from twisted.internet import defer, task

from idlemail.client.failures import AuthenticationFailed, describe
from idlemail.client.login import connectAndLogin
from idlemail.client.protocol import IMAPCommandError
from idlemail.notifier.service import watchSettings

TIMEOUT = 20.0


class Report:
    def __init__(self, out):
        self.out, self.failed = out, False

    def ok(self, account: str, text: str) -> None:
        self.out.write(f"{account}: ok: {text}\n")

    def fail(self, account: str, text: str) -> None:
        self.failed = True
        self.out.write(f"{account}: FAILED: {text}\n")


async def checkAccount(reactor, account, report: Report) -> None:
    s = watchSettings(account, account.mailboxes[0], reactor=reactor)
    name = s.account

    def step(what, secure=False, capabilities=()):
        if what == "connected":
            report.ok(name, f"connected to {s.server} ({'TLS' if secure else 'plaintext'})")
            report.ok(name, "capabilities: " + " ".join(sorted(capabilities)))

    try:
        proto = await connectAndLogin(reactor, s, TIMEOUT, onStep=step)
    except AuthenticationFailed as e:
        report.fail(name, f"authentication as {s.username!r} refused: {e}")
        return
    except Exception as e:
        report.fail(name, f"cannot connect to {s.server}: {describe(e, s.address, True)}")
        return
    report.ok(name, f"authenticated as {s.username!r} ({s.auth})")
    try:
        caps = proto.capabilities
        for mailbox in account.mailboxes:
            try:
                state = await proto.select(mailbox, readonly=True).addTimeout(TIMEOUT, reactor)
            except IMAPCommandError as e:
                report.fail(name, f"mailbox {mailbox!r}: {e}")
                continue
            report.ok(name, f"mailbox {mailbox!r}: {state.exists} messages, "
                            f"UIDVALIDITY {state.uidvalidity}")
            if "IDLE" not in caps:
                report.ok(name, f"mailbox {mailbox!r}: no IDLE; the notifier will poll")
                continue
            started = time.perf_counter()
            await proto.idle().addTimeout(TIMEOUT, reactor)
            await proto.stopIdle().addTimeout(TIMEOUT, reactor)
            report.ok(name, f"mailbox {mailbox!r}: IDLE round trip "
                            f"{(time.perf_counter() - started) * 1000:.1f} ms")
        await proto.logout().addTimeout(TIMEOUT, reactor)
    except Exception as e:
        report.fail(name, describe(e, s.address))
    finally:
        if proto.transport is not None:
            proto.transport.loseConnection()


def runDoctor(config, out=None) -> int:
    out = out or sys.stdout
    if config.notifier is None or not config.notifier.accounts:
        out.write(f"{config.path}: no [[notifier.accounts]] to check\n")
        return 2
    report = Report(out)

    async def main(reactor):
        for account in config.notifier.accounts:
            await checkAccount(reactor, account, report)

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as e:
        if e.code:
            return int(e.code)
    return 1 if report.failed else 0
