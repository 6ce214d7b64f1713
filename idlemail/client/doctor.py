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
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory

from idlemail.client.endpoints import clientEndpoint, tlsOptions
from idlemail.client.protocol import IMAPClientProtocol, IMAPCommandError
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
    s = watchSettings(account, account.mailboxes[0])
    name = s.account
    endpoint = clientEndpoint(reactor, s.server, caFile=s.caFile, insecure=s.insecureSkipVerify)
    try:
        proto = await endpoint.connect(Factory.forProtocol(IMAPClientProtocol)).addTimeout(
            TIMEOUT, reactor)
        await proto.greeted.addTimeout(TIMEOUT, reactor)
    except Exception as e:
        report.fail(name, f"cannot connect to {s.server}: {e}")
        return
    try:
        caps = await proto.capability().addTimeout(TIMEOUT, reactor)
        if s.starttls:
            host = s.server.split(":")[1]
            await proto.starttls(tlsOptions(host, s.caFile, s.insecureSkipVerify)).addTimeout(
                TIMEOUT, reactor)
            caps = await proto.capability().addTimeout(TIMEOUT, reactor)
        secure = ISSLTransport.providedBy(proto.transport) or s.starttls
        report.ok(name, f"connected to {s.server} ({'TLS' if secure else 'plaintext'})")
        report.ok(name, "capabilities: " + " ".join(sorted(caps)))
        password = s.password() if callable(s.password) else s.password
        try:
            if s.auth == "plain":
                await proto.authenticatePlain(s.username, password).addTimeout(TIMEOUT, reactor)
            elif s.auth == "xoauth2":
                await proto.authenticateXOAUTH2(s.username, password).addTimeout(
                    TIMEOUT, reactor)
            else:
                await proto.login(s.username, password).addTimeout(TIMEOUT, reactor)
        except IMAPCommandError as e:
            report.fail(name, f"authentication as {s.username!r} refused: {e}")
            return
        report.ok(name, f"authenticated as {s.username!r} ({s.auth})")
        caps = await proto.capability().addTimeout(TIMEOUT, reactor)
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
            await proto.done().addTimeout(TIMEOUT, reactor)
            report.ok(name, f"mailbox {mailbox!r}: IDLE round trip "
                            f"{(time.perf_counter() - started) * 1000:.1f} ms")
        await proto.logout().addTimeout(TIMEOUT, reactor)
    except Exception as e:
        report.fail(name, f"{e.__class__.__name__}: {e}")
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
