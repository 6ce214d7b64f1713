"""
FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2).
"""

from __future__ import annotations

from idlemail.server.fetchparts import headerSuffices, renderApart, servedApart, writeFetch
from idlemail.server.names import resolveUids
from idlemail.server.registry import ANSWERED, ONLY_SELECTED, command
from idlemail.server.responses import flagsItem
from idlemail.wire.command import FetchAttribute
from idlemail.wire.encode import dateTime as internalDate
from idlemail.wire.encode import literal, string
from idlemail.wire.message import MessageStructure, Section

_NEEDS_BODY = {"ENVELOPE", "BODYSTRUCTURE", "BODY", "BODY[]", "RFC822", "RFC822.HEADER",
               "RFC822.TEXT"}
_SEEN = "\\Seen"


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


def _render(att: FetchAttribute, info, seq: int, raw: bytes | None, structure, recent):
    name = att.name
    if name == "FLAGS":
        return flagsItem(info.flags, info.uid in recent)
    if name == "UID":
        return b"UID %d" % info.uid
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + internalDate(info.internaldate)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % info.size
    if name == "ENVELOPE":
        return b"ENVELOPE " + structure.envelope()
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + structure.bodystructure(True)
    if name == "BODY":
        return b"BODY " + structure.bodystructure(False)
    if name == "RFC822":
        return b"RFC822 " + literal(raw)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + literal(structure.section(Section(text="HEADER")) or b"")
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + literal(structure.section(Section(text="TEXT")) or b"")
    data = structure.section(att.section)
    if data is None:
        data = b""
    if att.partial is not None:
        start, length = att.partial
        data = data[start:start + length]
    return sectionLabel(att) + b" " + literal(bytes(data))


@command("FETCH", ONLY_SELECTED, expungesAfter=False)
async def fetch(session, cmd):
    view, mailbox = session.view, session.mailbox
    uids = resolveUids(session, cmd.args.sequenceSet, cmd.uid)
    if not uids:
        return None
    atts = list(cmd.args.attributes)
    if cmd.uid and not any(a.name == "UID" for a in atts):
        atts.insert(0, FetchAttribute("UID"))  # RFC 3501 6.4.8
    apart = [a for a in atts if servedApart(a, mailbox)]  # the backend serves these
    needsBody = any(a.name in _NEEDS_BODY and a not in apart for a in atts)
    headerOnly = headerSuffices(atts, apart, mailbox)
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
    for info in infos:
        seq = view.seqOf(info.uid)
        if seq is None:
            continue
        raw = structure = None
        if needsBody:
            raw = await (mailbox.bodyPart(info.uid, Section(text="HEADER"), None)
                         if headerOnly else mailbox.body(info.uid))
            if raw is None:
                missing = True
                continue
            structure = MessageStructure.parse(raw)
        items = []
        for a in atts:
            item = (await renderApart(a, mailbox, info.uid, sectionLabel(a)) if a in apart
                    else _render(a, info, seq, raw, structure, view.recent))
            if item is None:
                missing = True
                break
            items.append(item)
        else:
            if not await writeFetch(session, seq, items):
                return ANSWERED  # the connection is gone or was closed mid-literal
    if missing:
        return ("EXPUNGEISSUED", "Some of the requested messages were expunged")
    return None
