"""
ResponseFramer on its own: responses come out whole however the bytes are cut, and each
bound is a one-line answer, not a buffer that grows.
"""

from __future__ import annotations

import pytest

from idlemail.client.framing import ResponseFramer

STREAM = (b"* 1 FETCH (UID 4 BODY[] {11}\r\nhello\r\nyou! FLAGS (\\Seen))\r\n"
          b"* 2 EXISTS\r\n* 3 FETCH (X {0}\r\n Y {2}\r\n\r\n)\r\nA1 OK done\r\n")
EXPECTED = [
    (b"* 1 FETCH (UID 4 BODY[] {11} FLAGS (\\Seen))", [b"hello\r\nyou!"]),
    (b"* 2 EXISTS", []),
    (b"* 3 FETCH (X {0} Y {2})", [b"", b"\r\n"]),
    (b"A1 OK done", []),
]


def framed(chunks, **bounds):
    out = []
    framer = ResponseFramer(lambda line, literals: out.append((line, literals)),
                            bounds.pop("maxLiteralSize", 1024), **bounds)
    problems = [framer.feed(c) for c in chunks]
    return out, [p for p in problems if p]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_responses_come_out_whole_however_the_bytes_are_cut(size):
    chunks = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert framed(chunks) == (EXPECTED, [])


def test_a_line_that_never_ends_is_refused_at_the_bound():
    out, problems = framed([b"* OK " + b"x" * 600] * 4, maxLine=2000)
    assert out == [] and problems[0] == "server sent a line over 2000 octets"


def test_the_literals_of_one_response_share_the_bound():
    out, problems = framed([b"* 1 FETCH (A {600}\r\n" + b"a" * 600 + b" B {600}\r\n"],
                           maxLiteralSize=1000)
    assert out == []
    assert problems == ["server sent a literal of 600 octets, over the limit of 1000 octets "
                        "(max_literal_size)"]
