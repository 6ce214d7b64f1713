"""
NOTIFY (RFC 5465 8): C{NOTIFY NONE}, or C{NOTIFY SET [STATUS]} and event groups, each a
mailbox filter and its events (or NONE).
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.wire.reader import Reader

FILTERS = {"SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE",
           "MAILBOXES"}
#: The events of RFC 5465 5, spelled as the RFC does (they are matched without case).
EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName",
          "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange")
_SPELLING = {e.upper(): e for e in EVENTS}


@dataclass(frozen=True, slots=True)
class NotifyGroup:
    """
    One event group of NOTIFY SET: C{filter} is SELECTED, SELECTED-DELAYED, INBOXES,
    PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES (with C{mailboxes}, as sent); C{events}
    the event names as the RFC spells them (unknown ones as sent), empty for NONE;
    C{fetch} MessageNew's fetch attributes.
    """

    filter: str
    events: tuple[str, ...]
    mailboxes: tuple[bytes, ...] = ()
    fetch: tuple = ()


@dataclass(frozen=True, slots=True)
class NotifyArgs:
    """NOTIFY NONE (no groups) or NOTIFY SET [STATUS] groups."""

    groups: tuple[NotifyGroup, ...] = ()
    status: bool = False
    none: bool = False


def notify(r: Reader, uid: bool, fetchAtt) -> NotifyArgs:
    """C{fetchAtt(r)} reads one fetch attribute (MessageNew's)."""
    r.sp()
    word = r.atom(what="SET or NONE").upper()
    if word == "NONE":
        return NotifyArgs(none=True)
    if word != "SET":
        r.fail("Expected SET or NONE")
    r.sp()
    status = False
    if r.peek() != 0x28:
        if r.atom(what="STATUS or an event group").upper() != "STATUS":
            r.fail("Expected STATUS or an event group")
        status = True
        r.sp()
    groups = [_group(r, fetchAtt)]
    while r.maybe(b" "):
        groups.append(_group(r, fetchAtt))
    return NotifyArgs(tuple(groups), status)


def _group(r: Reader, fetchAtt) -> NotifyGroup:
    r.expect(b"(", "an event group")
    kind = r.atom(what="a mailbox filter").upper()
    if kind not in FILTERS:
        r.fail(f"Unknown mailbox filter {kind}")
    mailboxes: list[bytes] = []
    if kind in ("SUBTREE", "MAILBOXES"):
        r.sp()
        if r.maybe(b"("):
            while not r.maybe(b")"):
                if mailboxes:
                    r.sp()
                mailboxes.append(r.astring("a mailbox name"))
            if not mailboxes:
                r.fail("Expected mailbox names")
        else:
            mailboxes.append(r.astring("a mailbox name"))
    r.sp()
    events: list[str] = []
    fetch: list = []
    if r.maybe(b"("):
        while not r.maybe(b")"):
            if events:
                r.sp()
            name = r.atom(what="an event")
            events.append(_SPELLING.get(name.upper(), name))
            if events[-1] == "MessageNew" and r.data.startswith(b" (", r.pos):
                if kind not in ("SELECTED", "SELECTED-DELAYED"):
                    r.fail("MessageNew fetch attributes are for the selected mailbox only")
                r.pos += 2
                while not r.maybe(b")"):
                    if fetch:
                        r.sp()
                    fetch.append(fetchAtt(r))
                if not fetch:
                    r.fail("Expected fetch attributes")
        if not events:
            r.fail("Expected events")
    elif r.atom(what="events or NONE").upper() != "NONE":
        r.fail("Expected events or NONE")
    r.expect(b")")
    return NotifyGroup(kind, tuple(events), tuple(mailboxes), tuple(fetch))
