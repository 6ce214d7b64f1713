"""
The notifier's figures: server push -> sink start, and recovery after a server restart.

    python -m bench.notifier -k 20 --restarts 3

An idlemail server (memory backend) runs in its own process; the notifier runs here with a
callback sink and an exec sink (`sh -c 'date +%s.%N >> FILE'`). t0 is taken just before the
APPEND is written by another connection of this process. Reported: t0 -> callback sink
called, t0 -> exec command running (the time it prints). Then the server is restarted
`--restarts` times: the time from the new server's first greeting to `account.up`, with the
notifier's default reconnect backoff.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from bench.servers import IdlemailServer

RESULTS = Path(__file__).resolve().parent / "results"

USERS = {"alice": "alicepw"}


def ms(values) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {"p50": statistics.median(ordered) * 1000, "max": ordered[-1] * 1000,
            "n": len(ordered)}


async def until(reactor, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await task.deferLater(reactor, 0.001, lambda: None)


async def run(reactor, args) -> dict:
    from idlemail.client.protocol import IMAPClientProtocol
    from idlemail.notifier.service import NotifierService
    from idlemail.testing import notifierConfig

    scratch = Path(tempfile.mkdtemp(prefix="idlemail-bench-notifier-"))
    server = IdlemailServer(scratch / "server", USERS, backend="memory")
    server.start()
    stamps = scratch / "exec-times"
    config = notifierConfig("bench", server.port, "alice", "alicepw", [
        {"kind": "exec", "argv": ["sh", "-c", f"date +%s.%N >> {stamps}"], "headers": False}],
        scratch / "state.json")
    seen: list = []
    service = NotifierService(config, reactor=reactor,
                              callback=lambda e: seen.append((time.time(), e)))
    service.startService()
    result: dict = {}
    try:
        await until(reactor, lambda: any(e.event == "account.up" for _, e in seen), 20)
        appender = IMAPClientProtocol()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", server.port), appender)
        await appender.greeted
        await appender.login("alice", "alicepw")
        toCallback, toExec = [], []
        message = b"Subject: bench\r\n\r\nhello\r\n"
        for k in range(args.k):
            before = sum(1 for _, e in seen if e.event == "message.new")
            lines = stamps.read_text().count("\n") if stamps.exists() else 0
            t0 = time.time()
            appender.sendCommand("APPEND", "INBOX", b"{%d+}\r\n" % len(message) + message)
            await until(reactor, lambda: sum(1 for _, e in seen if e.event == "message.new")
                        > before, 10)
            toCallback.append([t for t, e in seen if e.event == "message.new"][-1] - t0)
            await until(reactor, lambda: stamps.exists()
                        and stamps.read_text().count("\n") > lines, 10)
            toExec.append(float(stamps.read_text().splitlines()[-1]) - t0)
            await task.deferLater(reactor, 0.05, lambda: None)
        result["push_to_callback_ms"] = ms(toCallback)
        result["push_to_exec_running_ms"] = ms(toExec)
        appender.transport.loseConnection()
        recoveries = []
        watcher = service.watchers[0]
        for _ in range(args.restarts):
            sessions = watcher.connections
            server.stop()
            # account.down waits for down_after (5 min); the watcher's own flag says it at once.
            await until(reactor, lambda: not watcher.up, 20)
            await task.deferLater(reactor, args.downtime, lambda: None)
            server.start()  # returns once the server greets
            back = time.time()
            await until(reactor, lambda: watcher.connections > sessions, 120)
            recoveries.append(time.time() - back)
        result["recovery_after_restart_ms"] = ms(recoveries)
        result["downtime_s"] = args.downtime
    finally:
        await service.stopService()
        server.stop()
    return result


def report(result: dict) -> None:
    rows = [("server push → callback sink called", "push_to_callback_ms"),
            ("server push → exec sink command running", "push_to_exec_running_ms"),
            ("server restart → watching again", "recovery_after_restart_ms")]
    print("| figure | p50 (ms) | max (ms) | n |\n|---|---|---|---|")
    for label, key in rows:
        r = result.get(key, {})
        print(f"| {label} | {r.get('p50', 0):.2f} | {r.get('max', 0):.2f} | {r.get('n', 0)} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime("notifier-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(result, indent=2))
    print(f"bench: results written to {out}", file=sys.stderr)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.notifier")
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--downtime", type=float, default=2.0,
                   help="seconds the server stays down in each restart")
    args = p.parse_args(argv)
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)).addCallback(report))


if __name__ == "__main__":
    main()
