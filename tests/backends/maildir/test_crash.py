"""
`kill -9` of the server in the middle of a burst of concurrent APPENDs (committed in groups):
the uidlist still loads, and every message that got a tagged OK is there with the UID its
APPENDUID gave.
"""

import imaplib
import re
import signal
import threading
import time

from tests.backends.maildir.conftest import writePasswd
from tests.test_plugin import freePort, twistd, waitForPort


def serve(tmp_path, port):
    return twistd(tmp_path, "--config", "c.toml")


def maildirServer(tmp_path) -> int:
    """Write c.toml for a Maildir server of alice/alicepw on a free port; the port."""
    port = freePort()
    writePasswd(tmp_path / "passwd", {"alice": "alicepw"})
    (tmp_path / "c.toml").write_text(f"""
[server]
listen = ["tcp:{port}:interface=127.0.0.1"]
backend = "maildir"
[server.maildir]
root = "mail"
passwd_file = "passwd"
""")
    return port


def killMidBurst(proc, clients, enough, stopAt: float, settle: float = 0.0) -> None:
    """Start the client threads; once C{enough()} (or at C{stopAt}), and C{settle}
    seconds more, kill -9 the server mid-burst; then wait for the clients to notice."""
    for client in clients:
        client.start()
    while not enough() and time.monotonic() < stopAt:
        time.sleep(0.01)
    time.sleep(settle)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for client in clients:
        client.join(timeout=15)


def test_kill_9_mid_append_loses_nothing_acknowledged(tmp_path):
    port = maildirServer(tmp_path)
    proc = serve(tmp_path, port)
    acknowledged: dict[int, bytes] = {}
    stopAt = time.monotonic() + 30

    def appender():
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("alice", "alicepw")
        n = 0
        try:
            while time.monotonic() < stopAt:
                body = b"Subject: crash test %d\r\n\r\n%s\r\n" % (n, b"x" * 5000)
                typ, data = m.append("INBOX", None, None, body)
                uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
                acknowledged[uid] = body
                n += 1
        except (imaplib.IMAP4.abort, OSError, EOFError):
            return

    try:
        waitForPort(port, proc)
        killMidBurst(proc, [threading.Thread(target=appender) for _ in range(8)],
                     lambda: len(acknowledged) >= 150, stopAt)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert len(acknowledged) >= 150
    proc = serve(tmp_path, port)
    try:
        waitForPort(port, proc)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("alice", "alicepw")
        m.select("INBOX")
        uids = {int(u) for u in m.uid("SEARCH", "ALL")[1][0].split()}
        assert set(acknowledged) <= uids
        for uid in sorted(acknowledged):
            data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")[1][0][1]
            assert data == acknowledged[uid]
        m.logout()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    uidlist = (tmp_path / "mail" / "alice" / "Maildir" / "dovecot-uidlist").read_text()
    assert uidlist.startswith("3 V")
