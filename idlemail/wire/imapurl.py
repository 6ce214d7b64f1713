"""
IMAP URLs (RFC 5092) as CATENATE uses them (RFC 4469 5): a message, or a section or
range of one, in a mailbox of the same user, e.g. C{/INBOX;UIDVALIDITY=385759045/;UID=20/
;SECTION=1.2}. Relative URLs (from C{/}) and absolute ones (C{imap://user@host/...}) are
read; URLAUTH (RFC 4467) is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from idlemail.wire.command import parseSectionSpec
from idlemail.wire.message import Section
from idlemail.wire.reader import ParseError

_ABSOLUTE = re.compile(r"imap://(?:([^@/;]*)(?:;[^@/]*)?@)?[^/]*(/.*)$", re.IGNORECASE)
_PATH = re.compile(
    r"/(?P<mailbox>[^;/]+(?:/[^;/]+)*?)"
    r"(?:;UIDVALIDITY=(?P<validity>[1-9][0-9]{0,9}))?"
    r"/?;UID=(?P<uid>[1-9][0-9]{0,9})"
    r"(?:/?;SECTION=(?P<section>[^/;]+))?"
    r"(?:/?;PARTIAL=(?P<start>[0-9]{1,10})(?:\.(?P<length>[1-9][0-9]{0,9}))?)?$",
    re.IGNORECASE)


class BadURL(ValueError):
    """Not an IMAP URL of a message this server can give."""


@dataclass(frozen=True, slots=True)
class MessageURL:
    """C{user}: the user an absolute URL names, or None for a relative one."""

    mailbox: str
    uid: int
    uidValidity: int | None = None
    section: Section = Section()
    partial: tuple[int, int | None] | None = None
    user: str | None = None


def parseMessageURL(url: bytes) -> MessageURL:
    try:
        text = url.decode("ascii")
    except UnicodeDecodeError:
        raise BadURL("an IMAP URL is ASCII (RFC 5092 3)") from None
    user = None
    m = _ABSOLUTE.match(text)
    if m is not None:
        user = unquote_to_bytes(m.group(1)).decode("utf-8", "replace") if m.group(1) else None
        text = m.group(2)
    m = _PATH.match(text)
    if m is None:
        raise BadURL("not the URL of one message (/mailbox;UIDVALIDITY=v/;UID=n)")
    try:
        mailbox = unquote_to_bytes(m.group("mailbox")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadURL("the mailbox name is not UTF-8 (RFC 5092 3.3)") from None
    section = Section()
    if m.group("section"):
        section = parseSection(unquote_to_bytes(m.group("section")))
    partial = None
    if m.group("start") is not None:
        length = m.group("length")
        partial = (int(m.group("start")), int(length) if length else None)
    validity = m.group("validity")
    return MessageURL(mailbox, int(m.group("uid")), int(validity) if validity else None,
                      section, partial, user)


def parseSection(spec: bytes) -> Section:
    """A section spec as FETCH's BODY[...] has it (e.g. C{1.2.MIME}, C{HEADER})."""
    try:
        return parseSectionSpec(spec)
    except ParseError as e:
        raise BadURL(f"bad section: {e}") from None

