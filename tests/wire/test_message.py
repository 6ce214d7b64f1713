"""
FETCH sections, ENVELOPE and BODYSTRUCTURE of plain, multipart and nested messages.
"""

import pytest

from idlemail.wire.message import MAX_DEPTH, MessageStructure, Section

PLAIN = (b"From: Alice Example <alice@example.org>\r\n"
         b"To: bob@example.org, \"Carol C\" <carol@example.net>\r\n"
         b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
         b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
         b"Message-ID: <m1@example.org>\r\n"
         b"\r\n"
         b"line one\r\nline two\r\n")

MULTI = (b"From: a@example.org\r\n"
         b"Subject: parts\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
         b"\r\n"
         b"preamble\r\n"
         b"--XX\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"\r\n"
         b"hello\r\n"
         b"--XX\r\n"
         b"Content-Type: message/rfc822\r\n"
         b"\r\n"
         b"Subject: inner\r\n"
         b"From: c@example.net\r\n"
         b"\r\n"
         b"inner body\r\n"
         b"--XX\r\n"
         b"Content-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
         b"\r\n"
         b"AAEC\r\n"
         b"--XX--\r\n"
         b"epilogue\r\n")


def test_whole_header_and_text_sections_are_byte_exact():
    m = MessageStructure.parse(PLAIN)
    assert m.section(Section()) == PLAIN
    header, body = PLAIN.split(b"\r\n\r\n", 1)
    assert m.section(Section(text="HEADER")) == header + b"\r\n\r\n"
    assert m.section(Section(text="TEXT")) == body
    assert m.section(Section((1,))) == body


@pytest.mark.parametrize("text, fields, expected", [
    ("HEADER.FIELDS", ("SUBJECT",), b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n"),
    ("HEADER.FIELDS", ("X-NONE",), b"\r\n"),
    ("HEADER.FIELDS.NOT", ("FROM", "TO", "DATE", "MESSAGE-ID"),
     b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n"),
])
def test_header_fields(text, fields, expected):
    assert MessageStructure.parse(PLAIN).section(Section((), text, fields)) == expected


def test_header_is_decoded_for_search():
    m = MessageStructure.parse(PLAIN)
    assert m.header("subject") == "café"
    assert m.header("x-missing") is None


def test_envelope_lists_addresses():
    env = MessageStructure.parse(PLAIN).envelope()
    assert env.startswith(b'("Tue, 24 Nov 2026 10:00:00 +0000" "=?utf-8?q?caf=C3=A9?=" '
                          b'(("Alice Example" NIL "alice@example.org" NIL))'[:60])
    assert b'(("Alice Example" NIL "alice" "example.org"))' in env
    assert b'((NIL NIL "bob" "example.org")("Carol C" NIL "carol" "example.net"))' in env
    assert env.endswith(b'NIL NIL NIL "<m1@example.org>")')


def test_plain_bodystructure():
    bs = MessageStructure.parse(PLAIN).bodystructure(False)
    assert bs == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 2)'


def test_multipart_parts_are_addressable():
    m = MessageStructure.parse(MULTI)
    assert m.section(Section((1,))) == b"hello"
    assert m.section(Section((1,), "MIME")) == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert m.section(Section((2,), "HEADER")) == b"Subject: inner\r\nFrom: c@example.net\r\n\r\n"
    assert m.section(Section((2,), "TEXT")) == b"inner body"
    assert m.section(Section((2, 1))) == b"inner body"
    assert m.section(Section((3,))) == b"AAEC"
    assert m.section(Section((4,))) is None


def test_multipart_bodystructure_nests():
    bs = MessageStructure.parse(MULTI).bodystructure(True)
    assert bs.startswith(b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)')
    assert b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' in bs
    assert b'"BASE64" 4 NIL ("ATTACHMENT" ("FILENAME" "a.bin")) NIL NIL)' in bs
    assert bs.endswith(b' "MIXED" ("BOUNDARY" "XX") NIL NIL NIL)')
    assert bs.count(b"(") == bs.count(b")")


def test_message_without_body_or_header():
    m = MessageStructure.parse(b"Subject: only header\r\n")
    assert m.section(Section(text="TEXT")) == b""
    assert m.bodystructure(False).startswith(b'("TEXT" "PLAIN"')
    empty = MessageStructure.parse(b"")
    assert empty.envelope() == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


# -- RFC 3501 6.4.5: the example message of the FETCH section, part for part ----------------

def _multipart(boundary: bytes, parts, preamble=b"", epilogue=b"") -> bytes:
    """A multipart body: each part's octets are exactly what its BODY[n.MIME]+BODY[n] hold."""
    out = preamble
    for p in parts:
        out += b"--" + boundary + b"\r\n" + p + b"\r\n"
    return out + b"--" + boundary + b"--\r\n" + epilogue


P1 = b"Content-Type: text/plain\r\n\r\npart one"
P2 = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC"
P31 = b"Content-Type: text/plain\r\n\r\nthree one"
P32 = b"Content-Type: application/octet-stream\r\n\r\nthree two"
M3_HEADER = (b"From: Three <three@example.org>\r\nSubject: three\r\nX-Note: n\r\n"
             b'Content-Type: multipart/mixed; boundary="b3"\r\n\r\n')
M3_BODY = _multipart(b"b3", [P31, P32])
P3 = b"Content-Type: message/rfc822\r\n\r\n" + M3_HEADER + M3_BODY
P41 = b"Content-Type: image/gif\r\n\r\nGIF89a"
P421 = b"Content-Type: text/plain\r\n\r\nfour two one"
P4221 = b"Content-Type: text/plain\r\n\r\nplain"
P4222 = b"Content-Type: text/richtext\r\n\r\n<bold>rich</bold>"
P422 = b"Content-Type: multipart/alternative; boundary=b422\r\n\r\n" + _multipart(
    b"b422", [P4221, P4222])
M42_HEADER = b"Subject: four two\r\nContent-Type: multipart/mixed; boundary=b42\r\n\r\n"
M42_BODY = _multipart(b"b42", [P421, P422])
P42 = b"Content-Type: message/rfc822\r\n\r\n" + M42_HEADER + M42_BODY
P4 = b"Content-Type: multipart/mixed; boundary=b4\r\n\r\n" + _multipart(b"b4", [P41, P42])
COMPLEX_HEADER = (b"From: a@example.org\r\nSubject: complex\r\nMIME-Version: 1.0\r\n"
                  b"Content-Type: multipart/mixed; boundary=top\r\n\r\n")
COMPLEX_BODY = _multipart(b"top", [P1, P2, P3, P4], b"preamble\r\n", b"epilogue\r\n")
COMPLEX = COMPLEX_HEADER + COMPLEX_BODY


def _body(part: bytes) -> bytes:
    return part.split(b"\r\n\r\n", 1)[1]


def _mime(part: bytes) -> bytes:
    return part.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"


def _section(spec: str) -> Section:
    """`4.2.HEADER` -> Section((4, 2), "HEADER")."""
    numbers, text = [], None
    for i, piece in enumerate(spec.split(".")):
        if piece.isdigit():
            numbers.append(int(piece))
        else:
            text = ".".join(spec.split(".")[i:])
            break
    return Section(tuple(numbers), text)


@pytest.mark.parametrize("spec, expected", [
    ("HEADER", COMPLEX_HEADER),
    ("TEXT", COMPLEX_BODY),
    ("1", b"part one"),
    ("2", b"AAEC"),
    ("3", M3_HEADER + M3_BODY),  # the whole encapsulated message
    ("3.MIME", b"Content-Type: message/rfc822\r\n\r\n"),
    ("3.HEADER", M3_HEADER),
    ("3.TEXT", M3_BODY),
    ("3.1", b"three one"),
    ("3.1.MIME", _mime(P31)),
    ("3.2", b"three two"),
    ("4", _body(P4)),
    ("4.MIME", _mime(P4)),
    ("4.1", b"GIF89a"),
    ("4.1.MIME", b"Content-Type: image/gif\r\n\r\n"),
    ("4.2", M42_HEADER + M42_BODY),
    ("4.2.HEADER", M42_HEADER),
    ("4.2.TEXT", M42_BODY),
    ("4.2.1", b"four two one"),
    ("4.2.2", _body(P422)),
    ("4.2.2.1", b"plain"),
    ("4.2.2.2", b"<bold>rich</bold>"),
])
def test_rfc3501_example_part_specifiers(spec, expected):
    assert MessageStructure.parse(COMPLEX).section(_section(spec)) == expected


@pytest.mark.parametrize("spec", [
    "5", "1.1", "3.3", "3.1.1", "4.3", "4.2.3", "4.2.2.3", "4.1.1", "1.1.1.1.1",
    # HEADER and TEXT follow only a part of type MESSAGE/RFC822 (RFC 3501 6.4.5).
    "1.HEADER", "1.TEXT", "4.HEADER", "4.TEXT", "4.1.HEADER", "3.1.TEXT",
])
def test_parts_that_do_not_exist_are_empty(spec):
    assert MessageStructure.parse(COMPLEX).section(_section(spec)) is None


def test_header_fields_of_an_encapsulated_message():
    m = MessageStructure.parse(COMPLEX)
    assert m.section(Section((3,), "HEADER.FIELDS", ("SUBJECT", "X-NONE"))) == (
        b"Subject: three\r\n\r\n")
    assert m.section(Section((3,), "HEADER.FIELDS.NOT", ("SUBJECT", "CONTENT-TYPE"))) == (
        b"From: Three <three@example.org>\r\nX-Note: n\r\n\r\n")
    assert m.section(Section((4, 2), "HEADER.FIELDS", ("subject",))) == (
        b"Subject: four two\r\n\r\n")
    assert m.section(Section((1,), "HEADER.FIELDS", ("CONTENT-TYPE",))) is None


def test_single_part_message_has_only_part_one():
    m = MessageStructure.parse(PLAIN)
    body = PLAIN.split(b"\r\n\r\n", 1)[1]
    assert m.section(Section((1,))) == body
    assert m.section(Section((2,))) is None
    assert m.section(Section((1, 1))) is None
    assert m.section(Section((1,), "HEADER")) is None  # part 1 is text/plain, not a message


NESTED = (b"From: outer@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
          b"From: middle@example.org\r\nContent-Type: message/rfc822\r\n\r\n"
          b"From: inner@example.org\r\nSubject: innermost\r\n\r\nHello world\r\n")


def test_a_message_that_is_message_rfc822_nests_part_one():
    m = MessageStructure.parse(NESTED)
    middle = NESTED.split(b"\r\n\r\n", 1)[1]
    inner = middle.split(b"\r\n\r\n", 1)[1]
    assert m.section(Section((1,))) == middle
    assert m.section(Section((1,), "HEADER")) == middle.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert m.section(Section((1,), "TEXT")) == inner
    assert m.section(Section((1, 1))) == inner
    assert m.section(Section((1, 1), "HEADER")) == (
        b"From: inner@example.org\r\nSubject: innermost\r\n\r\n")
    assert m.section(Section((1, 1, 1))) == b"Hello world\r\n"
    assert m.section(Section((1, 1, 2))) is None


DIGEST = (b"Content-Type: multipart/digest; boundary=d\r\n\r\n"
          b"--d\r\n\r\nFrom: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n"
          b"--d\r\nX-Mime: m2 header\r\n\r\nFrom: m2@example.com\r\n\r\nm2 body\r\n"
          b"--d--\r\n")


def test_digest_parts_are_messages():
    # RFC 2046 5.1.5: in a digest the default part type is message/rfc822.
    m = MessageStructure.parse(DIGEST)
    assert m.section(Section((1,))) == b"From: m1@example.com\r\nSubject: m1\r\n\r\nm1 body"
    assert m.section(Section((1,), "MIME")) == b"\r\n"
    assert m.section(Section((1,), "HEADER")) == b"From: m1@example.com\r\nSubject: m1\r\n\r\n"
    assert m.section(Section((1,), "TEXT")) == b"m1 body"
    assert m.section(Section((2,), "MIME")) == b"X-Mime: m2 header\r\n\r\n"
    assert m.section(Section((2, 1))) == b"m2 body"


def test_header_without_blank_line_gets_none_added():
    # RFC 3501 6.4.5: the blank line is in every header fetch "except in the case of a
    # message which has no body and no blank line".
    m = MessageStructure.parse(b"Subject: only header\r\nX-A: 1\r\n")
    assert m.section(Section(text="HEADER")) == b"Subject: only header\r\nX-A: 1\r\n"
    assert m.section(Section((), "HEADER.FIELDS", ("X-A",))) == b"X-A: 1\r\n"


def test_eight_bit_header_field_names_never_raise():
    m = MessageStructure.parse(b"Caf\xe9: au lait\r\nSubject: s\r\n\r\nbody")
    assert m.section(Section((), "HEADER.FIELDS", ("CAF\ufffd",))) == b"\r\n"
    assert m.section(Section((), "HEADER.FIELDS.NOT", ("SUBJECT", "CAF\ufffd"))) == (
        b"Caf\xe9: au lait\r\n\r\n")


# -- multipart edge cases -------------------------------------------------------------------

def test_preamble_and_epilogue_belong_to_no_part():
    m = MessageStructure.parse(COMPLEX)
    assert len(m.children()) == 4
    assert all(b"preamble" not in k.raw and b"epilogue" not in k.raw for k in m.children())
    assert m.section(Section(text="TEXT")).startswith(b"preamble\r\n--top\r\n")


def test_a_boundary_that_only_starts_like_another_is_not_a_delimiter():
    inner = b"Content-Type: multipart/alternative; boundary=\"=_a_b\"\r\n\r\n" + _multipart(
        b"=_a_b", [b"\r\nin one", b"\r\nin two"])
    raw = (b'Content-Type: multipart/mixed; boundary="=_a"\r\n\r\n'
           + _multipart(b"=_a", [inner, b"\r\nlast"]))
    m = MessageStructure.parse(raw)
    assert len(m.children()) == 2
    assert m.section(Section((1, 2))) == b"in two"
    assert m.section(Section((2,))) == b"last"


def test_a_multipart_without_boundary_is_read_as_text():
    # RFC 2045 5.2: an unusable Content-Type is taken as text/plain; the body stays reachable.
    m = MessageStructure.parse(b"Content-Type: multipart/mixed\r\n\r\nall of it\r\n")
    assert m.section(Section((1,))) == b"all of it\r\n"
    assert m.bodystructure(False) == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 11 1)'


def test_a_multipart_without_delimiters_has_no_parts_but_a_valid_structure():
    m = MessageStructure.parse(b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts\r\n")
    assert m.section(Section((1,))) is None
    bs = m.bodystructure(True)
    assert bs.startswith(b'(("TEXT" "PLAIN"') and bs.count(b"(") == bs.count(b")")


def test_an_unclosed_multipart_runs_to_the_end():
    m = MessageStructure.parse(b"Content-Type: multipart/mixed; boundary=q\r\n\r\n"
                               b"--q\r\n\r\none\r\n--q\r\n\r\ntwo\r\n")
    assert [m.section(Section((n,))) for n in (1, 2, 3)] == [b"one", b"two\r\n", None]


def test_bare_lf_line_endings():
    raw = (b"Subject: lf\nContent-Type: multipart/mixed; boundary=x\n\n"
           b"--x\nContent-Type: text/plain\n\nlf one\n--x--\n")
    m = MessageStructure.parse(raw)
    assert m.section(Section(text="HEADER")) == b"Subject: lf\nContent-Type: multipart/mixed; boundary=x\n\n"
    assert m.section(Section((1,))) == b"lf one"
    assert m.section(Section((1,), "MIME")) == b"Content-Type: text/plain\n\n"


def test_ten_thousand_parts_are_all_addressable():
    raw = (b"Content-Type: multipart/mixed; boundary=p\r\n\r\n"
           + _multipart(b"p", [b"\r\n%d" % n for n in range(1, 10_001)]))
    m = MessageStructure.parse(raw)
    assert m.section(Section((10_000,))) == b"10000"
    assert m.section(Section((10_001,))) is None
    assert m.bodystructure(False).count(b'("TEXT" "PLAIN"') == 10_000


def test_nesting_deeper_than_the_cap_is_opaque():
    depth = MAX_DEPTH + 50
    raw = b"leaf"
    for _ in range(depth):
        raw = b"Content-Type: message/rfc822\r\n\r\n" + raw
    m = MessageStructure.parse(raw)
    bs = m.bodystructure(True)  # no RecursionError
    assert bs.count(b'"MESSAGE" "RFC822"') == MAX_DEPTH
    assert b'"APPLICATION" "OCTET-STREAM"' in bs
    assert m.section(Section((1,) * (depth + 5))) is None
    assert list(m.leaves())[-1].mainType == "application"


# -- ENVELOPE (RFC 3501 7.4.2) ----------------------------------------------------------------

def _envelope(header: bytes) -> bytes:
    return MessageStructure.parse(header + b"\r\nbody\r\n").envelope()


def _addressFields(env: bytes) -> bytes:
    """Drop date and subject (NIL here) so the address lists start the result."""
    assert env.startswith(b"(NIL NIL ")
    return env[len(b"(NIL NIL "):]


def test_envelope_groups_have_start_and_end_markers():
    env = _envelope(b"From: a@example.org\r\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n")
    assert (b'((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")'
            b'(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL))'
            in env)


def test_envelope_empty_group_is_not_nil():
    env = _envelope(b"From: a@example.org\r\nCc: group:;\r\n")
    assert _addressFields(env) == (
        b'((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) '
        b'((NIL NIL "a" "example.org")) NIL ((NIL NIL "group" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)')


def test_envelope_source_route_fills_adl():
    env = _envelope(b"From: <@route1,@route2:user@domain>\r\n")
    assert env.startswith(b'(NIL NIL ((NIL "@route1,@route2" "user" "domain"))')


def test_envelope_drops_comments_from_address_parts_and_names_from_a_comment():
    env = _envelope(b"From: <user-from (comment)@ (comment) domain.org>\r\n"
                    b"To: user@domain (Real Name)\r\n")
    assert b'((NIL NIL "user-from" "domain.org"))' in env
    assert b'(("Real Name" NIL "user" "domain"))' in env


def test_envelope_display_names_raw_and_unquoted():
    env = _envelope(b'From: =?utf-8?q?caf=C3=A9?= <c@example.org>\r\n'
                    b'To: "Smith, John" <js@example.org>, "Say \\"hi\\"" <hi@example.org>\r\n')
    assert b'(("=?utf-8?q?caf=C3=A9?=" NIL "c" "example.org"))' in env
    assert b'("Smith, John" NIL "js" "example.org")' in env
    assert b'({8}\r\nSay "hi" NIL "hi" "example.org")' in env


def test_envelope_sender_and_reply_to_default_to_from_when_absent_or_empty():
    from_ = b'(("Real Name" NIL "user" "domain"))'
    absent = _addressFields(_envelope(b"From: user@domain (Real Name)\r\n"))
    empty = _addressFields(_envelope(b"From: user@domain (Real Name)\r\nSender: \r\nReply-To:\r\n"))
    for env in (absent, empty):
        assert env.startswith(b" ".join([from_] * 3) + b" NIL NIL NIL NIL NIL)")
    given = _envelope(b"From: a@b.org\r\nSender: s@b.org\r\nReply-To: r@b.org\r\n")
    assert b'((NIL NIL "s" "b.org")) ((NIL NIL "r" "b.org"))' in given


def test_envelope_address_without_domain_is_not_a_group_marker():
    env = _envelope(b"From: postmaster\r\n")
    assert env.startswith(b'(NIL NIL ((NIL NIL "postmaster" ".MISSING-HOST-NAME."))')


def test_envelope_collects_every_field_of_a_name():
    env = _envelope(b"From: a@b.org\r\nTo: one@b.org\r\nTo: two@b.org\r\n")
    assert b'((NIL NIL "one" "b.org")(NIL NIL "two" "b.org"))' in env


def test_envelope_present_but_empty_strings():
    env = _envelope(b"Date:\r\nSubject: \r\nFrom: a@b.org\r\n")
    assert env.startswith(b'("" "" ((NIL NIL "a" "b.org"))')


# -- BODYSTRUCTURE of message/rfc822 parts (RFC 3501 7.4.2) -----------------------------------

def test_message_rfc822_part_carries_envelope_structure_and_lines():
    raw = (b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
           b"Content-Type: message/rfc822\r\n\r\n"
           b"Subject: in\r\nFrom: i@example.org\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
           b"--i\r\nContent-Type: text/plain\r\n\r\nx\r\n--i--\r\n"
           b"\r\n--o--\r\n")
    inner = raw.split(b"message/rfc822\r\n\r\n", 1)[1].rsplit(b"\r\n--o--", 1)[0]
    bs = MessageStructure.parse(raw).bodystructure(False)
    assert bs == (
        b'(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d '
        b'(NIL "in" ((NIL NIL "i" "example.org")) ((NIL NIL "i" "example.org")) '
        b'((NIL NIL "i" "example.org")) NIL NIL NIL NIL NIL) '
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 1 1) "ALTERNATIVE") %d) "MIXED")'
        % (len(inner), 9))
