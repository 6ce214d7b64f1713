"""
No input and no bug ends a connection: bad bytes get a tagged BAD or NO, an unexpected
exception in a handler gets a tagged NO [SERVERBUG], and a few thousand generated
commands over one connection each get their tagged answer.
"""

import os
import random
import re

import pytest_twisted

from idlemail.backends.memory import MemoryAccount
from tests.server.clients import RawClient, inThread, ok, run

MESSAGE = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: fuzz\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
           b"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner\r\n"
           b"--XX--\r\n")


@pytest_twisted.ensureDeferred
async def test_8bit_bytes_in_patterns_sections_and_authenticate_get_bad(anyServer):
    anyServer.deliver(MESSAGE)

    def go():
        c = RawClient(anyServer.host, anyServer.port)
        initial = c.command(b"a", b"AUTHENTICATE PLAIN \xe9\xe9==")
        c.send(b"b AUTHENTICATE PLAIN\r\n")
        prompt = c.readline()
        c.send(b"\xff\xfe\xe9\r\n")
        continued = c.readUntilTagged(b"b")
        c.login()
        c.command(b"s", b"SELECT INBOX")
        selected = [c.command(b"c", line) for line in (
            b'LIST "" "caf\xe9*"', b"FETCH 1 BODY[HEADER.FIELDS (Fr\xe9m)]",
            b"FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (\xff)]", b"SEARCH HEADER Subj\xe9ct x")]
        return initial, prompt, continued, selected, c.command(b"z", b"NOOP")
    initial, prompt, continued, selected, after = await inThread(go)
    assert initial[-1].startswith(b"a BAD")
    assert prompt == b"+ " and continued[-1].startswith(b"b BAD")
    assert [r[-1][:5] for r in selected] == [b"c BAD"] * 4, selected
    ok(after, b"z")


@pytest_twisted.ensureDeferred
async def test_an_unexpected_error_in_a_command_is_no_serverbug_and_the_session_goes_on(
        server, monkeypatch):
    def broken(self, name):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(MemoryAccount, "status", broken)

    def script(c):
        return c.command(b"a", b"STATUS INBOX (MESSAGES)"), c.command(b"b", b"NOOP")
    failed, after = await run(server, script)
    assert failed == [b"a NO [SERVERBUG] Internal error; the command may not have completed"]
    ok(after, b"b")


# --- a bounded fuzz: generated lines over one connection ---------------------------

_SEQ = [b"1", b"2", b"1:*", b"*", b"1,3:5", b"2:1", b"0", b"4294967296", b"9"]
_MAILBOX = [b"INBOX", b"inbox", b"fuzz", b"Fuzz/Box", b'"a b"', b"&AGE-", b"foo&bar",
            b"x" * 300, b"/".join([b"y"] * 40), b'""', b"caf\xe9", b"~", b"Fuzz/%"]
_FETCH = [b"FLAGS", b"(UID FLAGS)", b"BODY[]", b"BODY.PEEK[HEADER.FIELDS (From)]",
          b"BODY[HEADER.FIELDS (Fr\xe9)]", b"BODY.PEEK[1.2.MIME]<0.10>", b"BODY[2.HEADER]",
          b"BODY[3]", b"BODY[1.TEXT]<5.0>", b"ENVELOPE", b"BODYSTRUCTURE", b"RFC822",
          b"(RFC822.SIZE INTERNALDATE)", b"FAST", b"ALL", b"(BODY[2.1] BODY)"]
_FLAGS = [b"(\\Seen)", b"\\seen", b"(\\Frob)", b"($kw $KW)", b"(caf\xe9)", b"()",
          b"(\\Deleted \\Recent)", b"\\DELETED"]
_SEARCH = [b"ALL", b"UNSEEN", b"NOT DELETED", b"OR SEEN NEW", b"HEADER Subject fuzz",
           b"KEYWORD $kw", b"CHARSET UTF-8 TEXT x", b"CHARSET KOI8-R ALL", b"SINCE 1-Jan-2020",
           b"SINCE 32-Foo-99", b"UID 1:*", b"(RECENT OLD)", b"LARGER 10", b"BODY inner"]
_ANY = [b"(", b")", b"]", b"[", b"\\", b"\x00", b"\x7f", b"\xff\xfe", b"NIL", b"{3}",
        b'"quoted \\" str"', b"%", b"*", b"x"]
# Each command with the shape of its arguments; a slot is a pool to draw from.
_SHAPES = {
    b"FETCH": [_SEQ, _FETCH], b"UID FETCH": [_SEQ, _FETCH],
    b"STORE": [_SEQ, [b"FLAGS", b"+FLAGS", b"-FLAGS.SILENT", b"FLAGS.SILENT"], _FLAGS],
    b"UID STORE": [_SEQ, [b"+FLAGS", b"-FLAGS"], _FLAGS],
    b"SEARCH": [_SEARCH], b"UID SEARCH": [_SEARCH, _SEARCH],
    b"COPY": [_SEQ, _MAILBOX], b"MOVE": [_SEQ, _MAILBOX], b"UID MOVE": [_SEQ, _MAILBOX],
    b"LIST": [_MAILBOX, _MAILBOX + [b"*", b"%", b'"*%*%"']], b"LSUB": [_MAILBOX, [b"*", b"%"]],
    b"STATUS": [_MAILBOX, [b"(MESSAGES UNSEEN RECENT UIDVALIDITY)", b"(UIDNEXT)", b"()"]],
    b"SELECT": [_MAILBOX], b"EXAMINE": [_MAILBOX], b"CREATE": [_MAILBOX],
    b"DELETE": [_MAILBOX], b"RENAME": [_MAILBOX, _MAILBOX], b"SUBSCRIBE": [_MAILBOX],
    b"UNSUBSCRIBE": [_MAILBOX], b"UID EXPUNGE": [_SEQ], b"ENABLE": [[b"IMAP4rev2", b"UTF8"]],
    b"ID": [[b"NIL", b'("name" "fuzz")', b"("]], b"LOGIN": [[b"alice"], [b"alicepw"]],
    b"NOOP": [], b"CHECK": [], b"EXPUNGE": [], b"CLOSE": [], b"UNSELECT": [],
    b"NAMESPACE": [], b"CAPABILITY": [], b"STARTTLS": [], b"FROB": [], b"UID": [],
}
_ENDS_IN_LITERAL = re.compile(rb"\{\d+\+?\}$")


def fuzzLines(rng: random.Random, count: int):
    names = sorted(_SHAPES)
    for i in range(count):
        # Back to a selected mailbox now and then: most commands need one.
        name = rng.choice(names) if i % 25 else b"SELECT"
        # Mostly well-shaped, with a slot now and then swapped for junk, dropped or doubled.
        words = [name] + [rng.choice(_ANY if rng.random() < 0.1 else pool)
                          for pool in _SHAPES[name] if rng.random() > 0.05]
        if not i % 25:
            words = [b"SELECT", b"INBOX"]
        if rng.random() < 0.1:
            words.insert(rng.randint(1, len(words)), rng.choice(_ANY))
        line = b"f%d " % i + b" ".join(words)
        if _ENDS_IN_LITERAL.search(line):
            line += b" x"  # a literal would swallow the next lines
        yield b"f%d" % i, line


def fuzz(server, count: int, seed: int):
    rng = random.Random(seed)
    c = RawClient(server.host, server.port)
    c.login()
    c.command(b"s", b"SELECT INBOX")
    answers, lines = [], list(fuzzLines(rng, count))
    for start in range(0, count, 50):
        batch = lines[start:start + 50]
        c.send(b"".join(line + b"\r\n" for _, line in batch))
        for tag, line in batch:
            reply = c.readUntilTagged(tag)
            assert not any(r.startswith(b"* BYE") for r in reply), (line, reply)
            answers.append((line, reply[-1]))
    final = c.command(b"z", b"NOOP")
    c.close()
    return answers, final


@pytest_twisted.ensureDeferred
async def test_two_thousand_generated_commands_each_get_a_tagged_answer(anyServer):
    for _ in range(3):
        anyServer.deliver(MESSAGE)
    answers, final = await inThread(fuzz, anyServer, 2000, 11)
    assert len(answers) == 2000
    statuses = [reply.split(b" ")[1] for _, reply in answers]
    assert set(statuses) <= {b"OK", b"NO", b"BAD"}
    bugs = [(line, reply) for line, reply in answers if b"[SERVERBUG]" in reply]
    assert bugs == []
    ok(final, b"z")
    # A sanity check that the generator reaches past the parser.
    assert statuses.count(b"OK") > 100 and statuses.count(b"BAD") > 100


def test_the_generator_is_bounded_and_never_ends_a_line_in_a_literal():
    lines = list(fuzzLines(random.Random(1), 500))
    assert len(lines) == 500
    assert not any(_ENDS_IN_LITERAL.search(line) for _, line in lines)


@pytest_twisted.ensureDeferred
async def test_a_folder_that_is_a_symlink_cannot_be_listed_selected_or_deleted(
        maildirServer, tmp_path):
    outside = tmp_path / "outside"
    for sub in ("cur", "new", "tmp"):
        (outside / sub).mkdir(parents=True)
    (outside / "cur" / "1.M1P1.x:2,").write_bytes(MESSAGE)
    os.symlink(outside, maildirServer.maildir() / ".Linked")

    def script(c):
        return [c.command(b"a", line) for line in (
            b'LIST "" *', b"SELECT Linked", b"DELETE Linked", b"CREATE Linked",
            b"RENAME Linked Other")] + [c.command(b"z", b"NOOP")]
    listed, *refused, after = await run(maildirServer, script)
    assert ok(listed) == [b'* LIST (\\HasNoChildren) "/" "INBOX"']
    assert [r[-1][:4] for r in refused] == [b"a NO"] * 4, refused
    ok(after, b"z")
    assert os.listdir(outside / "cur") == ["1.M1P1.x:2,"]
