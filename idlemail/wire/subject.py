"""
The base subject of RFC 5256 2.1, which SORT SUBJECT compares and THREAD groups by:
encoded words decoded, whitespace collapsed, and the marks replies, forwards and mailing
lists add taken off (C{Re:}, C{Fwd:}, C{Fw:}, C{[list]}, C{(fwd)}, C{[Fwd: ...]}).

Pure and Twisted-free; the steps are the RFC's, numbered as there.
"""

from __future__ import annotations

import re

from idlemail.wire.message import decodeWords

_WSP = re.compile(r"[ \t]+")
# subj-trailer = "(fwd)" / WSP
_TRAILER = re.compile(r"(?:\(fwd\)|[ \t])$", re.IGNORECASE)
# subj-blob = "[" *BLOBCHAR "]" *WSP, BLOBCHAR any CHAR but "[" and "]"
_BLOB = r"\[[^\[\]]*\][ \t]*"
# subj-leader = (*subj-blob subj-refwd) / WSP
# subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(rf"(?:(?:{_BLOB})*(?:re|fwd?)[ \t]*(?:{_BLOB})?:|[ \t])", re.IGNORECASE)
_LEADING_BLOB = re.compile(_BLOB)
# subj-fwd = subj-fwd-hdr subject subj-fwd-trl: "[fwd:" ... "]"
_FWD_HEADER = "[fwd:"


def baseSubject(subject: str | None) -> tuple[str, bool]:
    """
    The base subject of a Subject field's value as written (encoded words and all), and
    whether the message is a reply or a forward: whether a C{Re:}/C{Fwd:} leader, a
    C{(fwd)} trailer or a C{[fwd: ...]} wrapper was taken off (RFC 5256 2.1, used by
    THREAD=REFERENCES step 5).
    """
    if not subject:
        return "", False
    # (1) encoded words to text; tabs and continuations to spaces, runs of them to one.
    text = _WSP.sub(" ", decodeWords(subject).replace("\r\n", " ").replace("\n", " "))
    isReply = False
    while True:
        # (2) trailers: "(fwd)" and white space, as long as there are any.
        while True:
            m = _TRAILER.search(text)
            if m is None:
                break
            isReply = isReply or m.group(0) != " " and m.group(0) != "\t"
            text = text[:m.start()]
        # (3)-(5) leaders and blobs, as long as either comes off.
        while True:
            m = _LEADER.match(text)
            if m is not None:
                isReply = isReply or m.group(0) not in (" ", "\t")
                text = text[m.end():]
                continue
            m = _LEADING_BLOB.match(text)
            if m is not None and text[m.end():]:  # (4) only if a base subject is left
                text = text[m.end():]
                continue
            break
        # (6) a "[fwd: ...]" wrapper: take it off and start again from (2).
        if text[:5].lower() == _FWD_HEADER and text.endswith("]"):
            text = text[5:-1]
            isReply = True
            continue
        return text, isReply


def casemapped(text: str) -> bytes:
    """The i;ascii-casemap comparison key (RFC 4790 9.2): UTF-8, a-z as A-Z."""
    return text.encode("utf-8", "surrogateescape").upper()
