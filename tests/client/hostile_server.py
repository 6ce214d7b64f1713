"""
A hostile IMAP server for the client's bounds tests, run as its own process (so that its
buffers do not count in the test's tracemalloc figures):

    python hostile_server.py SCENARIO LOGFILE [LITERAL_SIZE]

It listens on 127.0.0.1 (an ephemeral port, printed on the first line of stdout), plays a
plain IMAP server for the login, SELECT and the commands a watcher sends, and on the first
IDLE of its first connection sends the scenario's payload. Each connection and command is
appended to LOGFILE. It serves at most 20 connections and exits after 120 s whatever
happens; the test stops it by its pid.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

MAX_CONNECTIONS = 20
LIFETIME = 120.0


def payloads(scenario: str, size: int):
    """Chunks sent after "+ idling" on the first IDLE."""
    if scenario == "exists":
        yield b"* 200000000 EXISTS\r\n"
    elif scenario == "flood":
        line = b"* OK " + b"f" * 2000 + b"\r\n"
        chunk = line * 256  # ~0.5 MB
        for _ in range(40):  # ~20 MB in all
            yield chunk
        yield b"* 1 EXISTS\r\n"
    elif scenario == "literal":
        yield b"* 1 FETCH (BODY[] {%d}\r\n" % size
        block = b"x" * (256 * 1024)
        sent = 0
        while sent < min(size, 4 * 1024 * 1024):
            yield block
            sent += len(block)
    elif scenario == "nesting":
        yield b"* 1 FETCH (X " + b"(" * 1_000_000 + b"\r\n"
        yield b"* 1 EXISTS\r\n"
    elif scenario == "zeros":
        yield b"* 1 FETCH (X (" + b"{0}\r\n " * 200_000 + b"))\r\n"
    elif scenario == "small-literals":
        yield b"* 1 FETCH (X (" + b"{1}\r\nx " * 9_000 + b"))\r\n"
        yield b"* 1 EXISTS\r\n"


def serve(conn: socket.socket, number: int, scenario: str, size: int, log) -> None:
    f = conn.makefile("rb")
    send = conn.sendall
    send(b"* OK [CAPABILITY IMAP4rev1 IDLE] hostile ready\r\n")
    exists = 0
    payloadSent = False
    for raw in f:
        line = raw.rstrip(b"\r\n")
        log(f"{number} {line[:60].decode(errors='replace')}")
        tag, _, rest = line.partition(b" ")
        command = rest.split(b" ", 1)[0].upper()
        if rest.upper().startswith(b"UID "):
            command = b"UID " + rest.split(b" ")[1].upper()
        if command == b"CAPABILITY":
            send(b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n")
        elif command in (b"SELECT", b"EXAMINE"):
            send(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n"
                 + tag + b" OK [READ-ONLY] done\r\n")
        elif command == b"UID SEARCH":
            send(b"* SEARCH" + (b" 5" if exists and b"ALL" in rest.upper() else b"")
                 + b"\r\n" + tag + b" OK done\r\n")
        elif command == b"UID FETCH":
            if payloadSent:  # the one message, announced by the payload's EXISTS
                exists = 1
                send(b"* 1 FETCH (UID 5 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"
                     b"Subject: after\r\n\r\n)\r\n")
            send(tag + b" OK done\r\n")
        elif command == b"IDLE":
            send(b"+ idling\r\n")
            for chunk in payloads(scenario, size):
                send(chunk)
            payloadSent, scenario = payloadSent or bool(scenario), ""  # once per connection
            for raw2 in f:
                if raw2.strip().upper() == b"DONE":
                    send(tag + b" OK idle done\r\n")
                    break
        elif command == b"LOGOUT":
            send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
            break
        else:
            send(tag + b" OK done\r\n")


def main() -> None:
    scenario, logfile = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000_000
    lock = threading.Lock()

    def log(text: str) -> None:
        with lock, open(logfile, "a") as out:
            out.write(text + "\n")

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(1.0)
    print(listener.getsockname()[1], flush=True)
    started, count = time.monotonic(), 0
    while time.monotonic() - started < LIFETIME and count < MAX_CONNECTIONS:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        count += 1
        log(f"{count} CONNECTED")

        def run(conn=conn, number=count):
            try:
                serve(conn, number, scenario if number == 1 else "", size, log)
            except OSError:
                pass
            finally:
                log(f"{number} CLOSED")
                conn.close()
        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
