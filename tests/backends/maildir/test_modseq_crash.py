"""
`kill -9` of the server in the middle of a burst of STOREs from several CONDSTORE clients:
after the restart no MODSEQ has gone backwards. Each message's MODSEQ is at least the last
one a client was told for it, HIGHESTMODSEQ is at least the highest told, and the next
change gets a MODSEQ above every one told before the crash.
"""

import imaplib
import re
import signal
import threading
import time

from tests.backends.maildir.test_crash import killMidBurst, maildirServer, serve
from tests.test_plugin import waitForPort

MESSAGES = 40
CLIENTS = 4
_TOLD = re.compile(rb"UID (\d+) MODSEQ \((\d+)\)")


def connect(port) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("alice", "alicepw")
    m.enable("CONDSTORE")
    m.select("INBOX")
    return m


def highestOf(m) -> int:
    return int(m.response("HIGHESTMODSEQ")[1][0])


def test_kill_9_mid_store_burst_no_modseq_goes_backwards(tmp_path):
    port = maildirServer(tmp_path)
    proc = serve(tmp_path, port)
    told: dict[int, int] = {}  # uid -> the highest MODSEQ a client was told for it
    guard = threading.Lock()
    stopAt = time.monotonic() + 30

    def storer(n: int):
        m = connect(port)
        mine = [uid for uid in range(1, MESSAGES + 1) if uid % CLIENTS == n]
        i = 0
        try:
            while time.monotonic() < stopAt:
                uid = mine[i % len(mine)]
                sign = "+" if (i // len(mine)) % 2 == 0 else "-"
                typ, data = m.uid("STORE", str(uid), sign + "FLAGS", "(\\Flagged)")
                with guard:
                    for item in data:
                        for u, modseq in _TOLD.findall(item or b""):
                            told[int(u)] = max(told.get(int(u), 0), int(modseq))
                i += 1
        except (imaplib.IMAP4.abort, OSError, EOFError):
            return

    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("alice", "alicepw")
        for n in range(MESSAGES):
            m.append("INBOX", None, None, b"Subject: %d\r\n\r\nbody\r\n" % n)
        m.logout()
        killMidBurst(proc, [threading.Thread(target=storer, args=(n,)) for n in range(CLIENTS)],
                     lambda: len(told) >= MESSAGES, stopAt,
                     settle=0.3)  # well into the burst
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert len(told) == MESSAGES
    proc = serve(tmp_path, port)
    try:
        waitForPort(port, proc)
        m = connect(port)
        assert highestOf(m) >= max(told.values())
        typ, data = m.uid("FETCH", "1:*", "(MODSEQ)")
        now = {int(u): int(s) for item in data for u, s in _TOLD.findall(item)}
        assert set(now) == set(told)
        backwards = {uid: (told[uid], now[uid]) for uid in told if now[uid] < told[uid]}
        assert not backwards
        typ, data = m.uid("STORE", "1", "+FLAGS", "(\\Answered)")
        assert int(_TOLD.search(data[0]).group(2)) > max(told.values())
        m.logout()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
