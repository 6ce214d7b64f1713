"""
FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2).

Message by message: each message's response is written before the next message is read,
and written only as fast as the client reads (L{idlemail.server.output}); a whole message
(BODY[], BODY.PEEK[], RFC822) comes from the backend in pieces when the mailbox can give
it so (L{IBodyStreams}); ENVELOPE and BODYSTRUCTURE come from the process's cache of
rendered structures when they can (L{idlemail.server.structures}); and a long FETCH gives
the reactor back between messages (L{idlemail.server.slices}).
"""

from __future__ import annotations

from idlemail.interfaces import IBodyStreams
from idlemail.server.output import writeResponse
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.responses import flagsItem
from idlemail.server.sequences import resolveUids
from idlemail.server.slices import Slices
from idlemail.wire.command import FetchAttribute
from idlemail.wire.encode import string
from idlemail.wire.message import MessageStructure, Section

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_NEEDS_BODY = {"BODY[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
#: Rendered from the parsed message, and kept in the process's structure cache.
_STRUCTURE = {"ENVELOPE": lambda s: s.envelope(),
              "BODYSTRUCTURE": lambda s: s.bodystructure(True),
              "BODY": lambda s: s.bodystructure(False)}
_SEEN = "\\Seen"


def internalDate(when) -> bytes:
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} '
            f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} '
            f'{sign}{minutes // 60:02d}{minutes % 60:02d}"').encode()


def _fieldName(name: str) -> bytes:
    """A header-fld-name echoed as an atom, or as a string when it is not one (8-bit)."""
    data = name.encode("utf-8")
    if data and all(0x20 < b < 0x7F for b in data) and not any(c in data for c in b'(){%*"\\]'):
        return data
    return string(data)


def sectionLabel(att: FetchAttribute) -> bytes:
    section = att.section
    spec = ".".join(str(n) for n in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
    label = b"BODY[" + spec.encode("ascii")
    if section.fields:
        label += b" (" + b" ".join(_fieldName(f) for f in section.fields) + b")"
    label += b"]"
    if att.partial is not None:
        label += b"<%d>" % att.partial[0]
    return label


def _marksSeen(att: FetchAttribute) -> bool:
    return att.name in ("RFC822", "RFC822.TEXT") or (att.name == "BODY[]" and not att.peek)


def _isWhole(att: FetchAttribute) -> bool:
    """The whole message, as stored: RFC822, or BODY[] without a part or a partial."""
    if att.partial is not None:
        return False
    return att.name == "RFC822" or (att.name == "BODY[]" and att.section == Section())


def _literal(label: bytes, data) -> list:
    """C{label {n}CRLF} then the data: bytes, or a body stream written as it is read."""
    size = data.size if not isinstance(data, (bytes, bytearray)) else len(data)
    return [label + b" {%d}\r\n" % size, data]


def _render(att: FetchAttribute, info, raw, structure, recent) -> list:
    """One data item as pieces for L{writeResponse}."""
    name = att.name
    if name == "FLAGS":
        return [flagsItem(info.flags, info.uid in recent)]
    if name == "UID":
        return [b"UID %d" % info.uid]
    if name == "INTERNALDATE":
        return [b"INTERNALDATE " + internalDate(info.internaldate)]
    if name == "RFC822.SIZE":
        return [b"RFC822.SIZE %d" % info.size]
    if name == "RFC822":
        return _literal(b"RFC822", raw)
    if name == "RFC822.HEADER":
        return _literal(b"RFC822.HEADER", structure.section(Section(text="HEADER")) or b"")
    if name == "RFC822.TEXT":
        return _literal(b"RFC822.TEXT", structure.section(Section(text="TEXT")) or b"")
    if _isWhole(att):
        return _literal(sectionLabel(att), raw)
    data = structure.section(att.section)
    if data is None:
        data = b""
    if att.partial is not None:
        start, length = att.partial
        data = data[start:start + length]
    return _literal(sectionLabel(att), data)


class _Plan:
    """What one FETCH needs of each message: cached structures, the body, or a stream."""

    def __init__(self, atts, streams: bool):
        self.atts = atts
        self.structures = [a.name for a in atts if a.name in _STRUCTURE]
        whole = [a for a in atts if _isWhole(a)]
        parsed = [a for a in atts if a.name in _NEEDS_BODY and not _isWhole(a)]
        # A whole message streams only when nothing else asks for the message's octets.
        self.stream = streams and bool(whole) and not parsed
        self.needsBody = bool(parsed) or (bool(whole) and not self.stream)


async def _message(session, mailbox, plan: _Plan, info, seq: int):
    """The pieces of one message's FETCH response, or None if it is gone."""
    cache = session.factory.structures
    key = (mailbox.uidValidity, info.uid)
    cached = cache.get(mailbox.tracker, key) if plan.structures else None
    needsBody = plan.needsBody or any(cached is None or n not in cached
                                      for n in plan.structures)
    raw = structure = None
    if needsBody:
        raw = await mailbox.body(info.uid)
        if raw is None:
            return None
        structure = MessageStructure.parse(raw)
    elif plan.stream:
        raw = await mailbox.openBody(info.uid)
        if raw is None:
            return None
    pieces = [b"* %d FETCH (" % seq]
    for i, att in enumerate(plan.atts):
        if i:
            pieces.append(b" ")
        if att.name in _STRUCTURE:
            value = cached.get(att.name) if cached is not None else None
            if value is None:
                value = _STRUCTURE[att.name](structure)
                cache.put(mailbox.tracker, key, att.name, value)
            pieces.append(att.name.encode() + b" " + value)
        else:
            pieces.extend(_render(att, info, raw, structure, session.view.recent))
    pieces.append(b")\r\n")
    return pieces


@command("FETCH", ONLY_SELECTED, expungesAfter=False)
async def fetch(session, cmd):
    view, mailbox = session.view, session.mailbox
    uids = resolveUids(session, cmd.args.sequenceSet, cmd.uid)
    if not uids:
        return None
    atts = list(cmd.args.attributes)
    if cmd.uid and not any(a.name == "UID" for a in atts):
        atts.insert(0, FetchAttribute("UID"))  # RFC 3501 6.4.8
    infos = await mailbox.messages(uids)
    if not view.readonly and any(_marksSeen(a) for a in atts):
        unseen = [i.uid for i in infos if _SEEN not in i.flags]
        if unseen:
            changed = await mailbox.store(unseen, [_SEEN], "+", origin=view)
            infos = [i.__class__(i.uid, changed.get(i.uid, i.flags), i.internaldate, i.size)
                     for i in infos]
            if not any(a.name == "FLAGS" for a in atts):
                # The change is told in this response, not again afterwards.
                atts.append(FetchAttribute("FLAGS"))
    missing = len(infos) < len(uids)
    session.announceKeywords()  # a FETCH may show a keyword new to this session
    plan = _Plan(atts, IBodyStreams.providedBy(mailbox))
    slices = Slices(session)
    for info in infos:
        seq = view.seqOf(info.uid)
        if seq is None:
            continue
        pieces = await _message(session, mailbox, plan, info, seq)
        if pieces is None:
            missing = True
            continue
        await writeResponse(session, pieces)
        if slices.due():
            await slices.pause()
    if missing:
        return ("EXPUNGEISSUED", "Some of the requested messages were expunged")
    return None
