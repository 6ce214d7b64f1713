"""
FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2).

Message by message: each message's response is written before the next message is read,
and only as fast as the client reads it (L{idlemail.server.output}). What the backend can
serve itself it serves: a whole message in pieces (L{IBodyStreams}), a section or a range
of octets (L{IPartialBodies}), a header alone for ENVELOPE; ENVELOPE and BODYSTRUCTURE come
from the process's cache of rendered structures when they can
(L{idlemail.server.structures}); and a long FETCH gives the reactor back between messages
(L{idlemail.server.slices}). A message read only for its structure is read a few messages
ahead of the one being written (L{READ_AHEAD}), so that those reads overlap, and once for
every FETCH that wants it at the same time.
"""

from __future__ import annotations

from twisted.internet import defer

from idlemail.errors import BadRequest, IMAPError
from idlemail.interfaces import IBodyStreams, IPartialBodies
from idlemail.server import condstore
from idlemail.server.output import CHUNK, writeData, writeResponse
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.responses import flagsItem
from idlemail.server.sequences import mergedRanges, resolveUids
from idlemail.server.slices import Slices
from idlemail.wire.command import FetchAttribute
from idlemail.wire.encode import dateTime as internalDate
from idlemail.wire.encode import string
from idlemail.wire.message import MessageStructure, Section
from idlemail.wire.transfer import UnknownTransferEncoding, binarySection

_WHOLE = Section()
_HEADER = Section(text="HEADER")
# Items that are one section of the message (RFC 3501 6.4.5): RFC822.HEADER is
# BODY.PEEK[HEADER], RFC822.TEXT is BODY[TEXT], RFC822 is BODY[].
_SECTIONS = {"RFC822": _WHOLE, "RFC822.HEADER": _HEADER, "RFC822.TEXT": Section(text="TEXT")}
#: Rendered from the parsed message, and kept in the process's structure cache.
_STRUCTURE = {"ENVELOPE": lambda s: s.envelope(),
              "BODYSTRUCTURE": lambda s: s.bodystructure(True),
              "BODY": lambda s: s.bodystructure(False)}
_SEEN = "\\Seen"
#: Messages a FETCH reads ahead for their structure (each is held parsed until written).
READ_AHEAD = 8
#: Items cut out of the message by section: BODY[...], and RFC 3516's BINARY[...].
_CUT = ("BODY[]", "BINARY[]")
_BINARY = {"BINARY[]": b"BINARY[", "BINARY.SIZE": b"BINARY.SIZE["}


def _fieldName(name: str) -> bytes:
    """A header-fld-name echoed as an atom, or as a string when it is not one (8-bit)."""
    data = name.encode("utf-8")
    if data and all(0x20 < b < 0x7F for b in data) and not any(c in data for c in b'(){%*"\\]'):
        return data
    return string(data)


def sectionLabel(att: FetchAttribute) -> bytes:
    if att.name in _BINARY:
        label = _BINARY[att.name] + b".".join(b"%d" % n for n in att.section.part) + b"]"
        return label if att.partial is None else label + b"<%d>" % att.partial[0]
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


def _label(att: FetchAttribute) -> bytes:
    return sectionLabel(att) if att.name in _CUT or att.name in _BINARY else att.name.encode()


def _marksSeen(att: FetchAttribute) -> bool:
    return att.name in ("RFC822", "RFC822.TEXT") or (att.name in _CUT and not att.peek)


def _isWhole(att: FetchAttribute) -> bool:
    """The whole message, as stored: RFC822, or BODY[] without a part or a partial."""
    if att.partial is not None:
        return False
    return att.name == "RFC822" or (att.name == "BODY[]" and att.section == _WHOLE)


def _literal(label: bytes, data) -> list:
    """C{label {n}CRLF} then the data: bytes, or a body stream written as it is read."""
    size = len(data) if isinstance(data, (bytes, bytearray)) else data.size
    return [label + b" {%d}\r\n" % size, data]


#: Items made from what the backend keeps for every message: a FETCH of these alone (a
#: client's resync, FETCH 1:* (UID FLAGS)) is answered line by line with no read.
_METADATA = {
    "FLAGS": lambda info, recent, modseq: flagsItem(info.flags, info.uid in recent),
    "UID": lambda info, recent, modseq: b"UID %d" % info.uid,
    "MODSEQ": lambda info, recent, modseq: condstore.modseqItem(modseq),
    "INTERNALDATE": lambda info, recent, modseq: (b"INTERNALDATE "
                                                  + internalDate(info.internaldate)),
    "RFC822.SIZE": lambda info, recent, modseq: b"RFC822.SIZE %d" % info.size,
}


def _render(att: FetchAttribute, info, raw, structure, recent, modseq) -> list:
    """One data item the server makes itself, as pieces for L{writeResponse}."""
    name = att.name
    metadata = _METADATA.get(name)
    if metadata is not None:
        return [metadata(info, recent, modseq)]
    if _isWhole(att):
        return _literal(_label(att), raw)
    if name in _BINARY:
        data = binarySection(structure, att.section.part)
        if data is None:
            data = b""  # no such part: empty, as for BODY[] (RFC 3516 4.2)
        if name == "BINARY.SIZE":
            return [_label(att) + b" %d" % len(data)]
        if att.partial is not None:
            start, length = att.partial
            data = data[start:start + length]
        # RFC 3516 4.3: NUL octets can only be sent in a literal8.
        literal = _literal(_label(att), data)
        if b"\0" in data:
            literal[0] = literal[0].replace(b" {", b" ~{", 1)
        return literal
    section = att.section if name == "BODY[]" else _SECTIONS[name]
    data = structure.section(section) or b""
    if att.partial is not None:
        start, length = att.partial
        data = data[start:start + length]
    return _literal(_label(att), data)


class _Plan:
    """Where each item of one FETCH comes from, for every message alike."""

    def __init__(self, atts, mailbox):
        streams, parts = IBodyStreams.providedBy(mailbox), IPartialBodies.providedBy(mailbox)
        self.atts = atts
        self.structures = [a.name for a in atts if a.name in _STRUCTURE]
        octets = [a for a in atts if a.name == "BODY[]" or a.name in _SECTIONS]
        # The backend's own: a whole message streamed, a section or range cut out.
        self.streamed = {a for a in octets if streams and _isWhole(a)}
        self.cut = {a for a in octets if parts and a not in self.streamed}
        self.rest = [a for a in octets if a not in self.streamed and a not in self.cut]
        self.rest += [a for a in atts if a.name in _BINARY]  # decoded here, from the whole
        # Only the whole message needs no parsing: a section needs the structure.
        self.parseRest = any(not _isWhole(a) for a in self.rest)
        self.headerOnly = parts  # ENVELOPE from the header alone, if that is all to parse


class _Structures:
    """
    The parsed messages a FETCH needs for the structure items it finds in no cache,
    when nothing else of the message is read: loaded up to L{READ_AHEAD} messages ahead
    of the one being written, each shared with any other FETCH loading it meanwhile.
    """

    def __init__(self, session, mailbox, plan: _Plan, infos):
        self.mailbox, self.plan, self.infos = mailbox, plan, infos
        self.cache = session.factory.structures
        self.loads: dict[int, defer.Deferred] = {}
        self._next = 0  # the first message not looked at yet

    def missing(self, uid: int) -> tuple[dict, list[str]]:
        """The items of the plan cached for C{uid}, and those not."""
        cached = self.cache.get(self.mailbox.tracker, (self.mailbox.uidValidity, uid)) or {}
        return cached, [n for n in self.plan.structures if n not in cached]

    def ahead(self, index: int) -> None:
        """Start the loads of the messages from C{index} to L{READ_AHEAD} beyond it."""
        if not self.plan.structures or self.plan.rest:
            return  # nothing to load, or the whole message is read anyway
        end = min(len(self.infos), index + READ_AHEAD)
        for info in self.infos[max(self._next, index):end]:
            missing = self.missing(info.uid)[1]
            if missing:
                self.loads[info.uid] = self.load(info.uid, missing)
        self._next = max(self._next, end)

    def load(self, uid: int, missing: list[str]) -> defer.Deferred:
        """The message parsed (from its header alone if that is enough), or None if gone."""
        mailbox = self.mailbox
        header = self.plan.headerOnly and missing == ["ENVELOPE"]

        def start():
            read = (mailbox.bodyPart(uid, _HEADER, None) if header else mailbox.body(uid))
            return read.addCallback(lambda raw: None if raw is None
                                    else MessageStructure.parse(raw))
        key = (mailbox.tracker, mailbox.uidValidity, uid, header)
        return self.cache.shared(key, start)

    def take(self, uid: int, missing: list[str]) -> defer.Deferred:
        d = self.loads.pop(uid, None)
        return d if d is not None else self.load(uid, missing)

    def drop(self) -> None:
        """The FETCH ends: loads it will not take are left to finish unheard."""
        for d in self.loads.values():
            d.addErrback(lambda _: None)
        self.loads = {}


async def _message(session, mailbox, plan: _Plan, info, seq: int, modseq: int,
                   structures: _Structures):
    """The pieces of one message's FETCH response, or None if it is gone."""
    cache, uid = session.factory.structures, info.uid
    key = (mailbox.uidValidity, uid)
    cached, missing = structures.missing(uid) if plan.structures else ({}, [])
    raw = structure = None
    if plan.rest:
        raw = await mailbox.body(uid)
        if raw is None:
            return None
        if missing or plan.parseRest:
            structure = MessageStructure.parse(raw)
    elif missing:
        structure = await structures.take(uid, missing)
        if structure is None:
            return None
        # Another FETCH may have rendered some meanwhile (what we found stays ours).
        cached = {**cached, **structures.missing(uid)[0]}
        missing = [n for n in plan.structures if n not in cached]
    served = {}
    try:
        for att in plan.atts:
            if att in plan.streamed:
                served[att] = await mailbox.openBody(uid)
            elif att in plan.cut:
                section = att.section if att.name == "BODY[]" else _SECTIONS[att.name]
                served[att] = await mailbox.bodyPart(uid, section, att.partial)
            else:
                continue
            if served[att] is None:
                raise LookupError(uid)  # gone meanwhile
    except LookupError:
        _close(served.values())
        return None
    pieces = [b"* %d FETCH (" % seq]
    for i, att in enumerate(plan.atts):
        if i:
            pieces.append(b" ")
        if att.name in _STRUCTURE:
            value = cached.get(att.name)
            if value is None:
                value = _STRUCTURE[att.name](structure)
                cache.put(mailbox.tracker, key, att.name, value)
            pieces.append(att.name.encode() + b" " + value)
        elif att in served:
            pieces.extend(_literal(_label(att), served[att]))
        else:
            try:
                pieces.extend(_render(att, info, raw, structure, session.view.recent,
                                      modseq))
            except UnknownTransferEncoding:
                _close(served.values())
                raise
    pieces.append(b")\r\n")
    return pieces


def _close(streams) -> None:
    for s in streams:
        if s is not None and not isinstance(s, (bytes, bytearray)):
            s.close()


def _withItem(atts: list, name: str, first: bool = False) -> None:
    if not any(a.name == name for a in atts):
        atts.insert(0, FetchAttribute(name)) if first else atts.append(FetchAttribute(name))


@command("FETCH", ONLY_SELECTED, expungesAfter=False)
async def fetch(session, cmd):
    view, mailbox, args = session.view, session.mailbox, cmd.args
    atts = list(args.attributes)
    changedSince = args.changedSince
    if args.vanished and not (cmd.uid and session.qresync):
        # RFC 7162 3.2.6: only UID FETCH, only once QRESYNC is enabled.
        raise BadRequest("VANISHED needs UID FETCH and ENABLE QRESYNC")
    if changedSince is not None or any(a.name == "MODSEQ" for a in atts):
        condstore.enable(session)  # RFC 7162 3.1: these enable CONDSTORE
        condstore.modseqMailbox(session)
        _withItem(atts, "MODSEQ")  # RFC 7162 3.1.4: CHANGEDSINCE implies MODSEQ
    uids = resolveUids(session, args.sequenceSet, cmd.uid)
    if args.vanished:
        ranges = mergedRanges(args.sequenceSet, mailbox.uidNext - 1)
        gone = await condstore.vanishedSince(session, changedSince, ranges)
        if gone:
            session.untagged(b"VANISHED (EARLIER) " + gone.encode())
    if changedSince is not None and uids:
        # Before anything is read: only the messages changed since are looked at.
        modseqs = await mailbox.modseqs(uids)
        uids = [uid for uid in uids if modseqs.get(uid, 0) > changedSince]
    if not uids:
        return None
    if cmd.uid:
        _withItem(atts, "UID", first=True)  # RFC 3501 6.4.8
    if session.condstore and any(a.name == "FLAGS" for a in atts):
        _withItem(atts, "MODSEQ")  # with CONDSTORE on, flags are told with their MODSEQ
    infos = await mailbox.messages(uids)
    if not view.readonly and any(_marksSeen(a) for a in atts):
        unseen = [i.uid for i in infos if _SEEN not in i.flags]
        if unseen:
            changed = await mailbox.store(unseen, [_SEEN], "+", origin=view)
            infos = [i.__class__(i.uid, changed.get(i.uid, i.flags), i.internaldate, i.size)
                     for i in infos]
            # The change is told in this response, not again afterwards; with CONDSTORE
            # on, as a flag change is told (RFC 7162 3.1: with UID and MODSEQ).
            _withItem(atts, "FLAGS")
            if session.condstore:
                _withItem(atts, "UID", first=True)
                _withItem(atts, "MODSEQ")
    missing = len(infos) < len(uids)
    complete, undecodable = await writeMessages(session, atts, infos)
    if undecodable:
        raise IMAPError("Cannot undo the transfer encoding of some of the messages",
                        "UNKNOWN-CTE")
    if missing or not complete:
        return ("EXPUNGEISSUED", "Some of the requested messages were expunged")
    return None


async def writeMessages(session, atts, infos) -> tuple[bool, bool]:
    """
    The FETCH responses of C{atts} for the messages C{infos} (L{MessageInfo}, ascending)
    of the selected mailbox, each written before the next is read, but for a few read
    ahead only for their structure (the FETCH command, and NOTIFY's MessageNew, RFC 5465
    5.2); whether all of them were there, and whether one had a transfer encoding BINARY
    cannot undo (RFC 3516 4.3: the others are answered).
    """
    view, mailbox = session.view, session.mailbox
    uids = [i.uid for i in infos]
    modseqs = await mailbox.modseqs(uids) if any(a.name == "MODSEQ" for a in atts) else {}
    session.announceKeywords()  # a FETCH may show a keyword new to this session
    if all(a.name in _METADATA for a in atts):
        await _writeMetadata(session, atts, infos, modseqs)
        return True, False
    plan = _Plan(atts, mailbox)
    structures = _Structures(session, mailbox, plan, infos)
    slices = Slices(session)
    complete, undecodable = True, False
    try:
        for index, info in enumerate(infos):
            seq = view.seqOf(info.uid)
            if seq is None:
                continue
            structures.ahead(index)
            try:
                pieces = await _message(session, mailbox, plan, info, seq,
                                        modseqs.get(info.uid, 0), structures)
            except UnknownTransferEncoding:
                undecodable = True
                continue
            if pieces is None:
                complete = False
                continue
            await writeResponse(session, pieces)
            if slices.due():
                await slices.pause()
    finally:
        structures.drop()
    return complete, undecodable


async def _writeMetadata(session, atts, infos, modseqs) -> None:
    """The FETCH responses of metadata items alone (L{_METADATA}): rendered in a tight
    loop and written a chunk at a time, giving the reactor back between slices."""
    view, recent = session.view, session.view.recent
    renders = [_METADATA[a.name] for a in atts]
    slices = Slices(session)
    lines, size = [], 0
    for info in infos:
        seq = view.seqOf(info.uid)
        if seq is None:
            continue
        modseq = modseqs.get(info.uid, 0)
        line = b"* %d FETCH (%b)\r\n" % (seq, b" ".join([r(info, recent, modseq)
                                                         for r in renders]))
        lines.append(line)
        size += len(line)
        if size >= CHUNK:
            await writeData(session, b"".join(lines))
            lines, size = [], 0
            if slices.due():
                await slices.pause()
    if lines:
        await writeData(session, b"".join(lines))
