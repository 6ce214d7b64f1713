"""
SEARCH and UID SEARCH (RFC 3501 6.4.4), evaluated over the backend's messages.

The criteria are compiled once into a predicate (repeated keys of an AND counted once,
sequence sets merged and bisected); each message is read and parsed once, and each text a
key looks into (the header, its decoded fields, the body and its decoded text parts) is
decoded and case-folded once per message, however many keys look into it. The messages
are gone through in slices, giving the reactor back between them, so one SEARCH of
thousands of keys over thousands of messages never stalls other connections.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from idlemail.errors import IMAPError
from idlemail.interfaces import ISearchMailbox
from idlemail.server import condstore
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.esearch import answerSearch
from idlemail.server.searchuids import resolveSaved, resolveSearch
from idlemail.server.sequences import NumberSet, mergedRanges
from idlemail.server.slices import Slices
from idlemail.wire.addresses import Group
from idlemail.wire.command import SearchKey
from idlemail.wire.message import MessageStructure, decodeWords

_NEEDS_BODY = {"HEADER", "BODY", "TEXT", "SENTBEFORE", "SENTON", "SENTSINCE"}
# Searched in the envelope's address structures (RFC 3501 6.4.4 FROM, TO, CC, BCC).
_ADDRESS_HEADERS = {"from", "to", "cc", "bcc"}
_CHARSETS = ("US-ASCII", "UTF-8")


def _needsBody(key: SearchKey) -> bool:
    if key.op in _NEEDS_BODY:
        return True
    return any(isinstance(a, SearchKey) and _needsBody(a) for a in key.args)


def _addressTexts(items):
    """What FROM/TO/CC/BCC match: each display name (decoded) with its address, group names."""
    for item in items:
        members = (item,)
        if isinstance(item, Group):
            yield decodeWords(item.name)
            members = item.members
        for m in members:
            name = decodeWords(m.name) if m.name else ""
            yield f"{name} <{m.address}>" if name else m.address


class _Message:
    """One message as SEARCH sees it; every text is made (decoded, case-folded) once."""

    __slots__ = ("info", "seq", "recent", "structure", "modseq", "_flags", "_fields",
                 "_body", "_bodyJoined", "_text", "_textJoined", "_sent")

    def __init__(self, info, seq: int, recent: bool, structure: MessageStructure | None,
                 modseq: int = 0):
        self.info, self.seq, self.recent, self.structure = info, seq, recent, structure
        self.modseq = modseq
        self._flags = self._body = self._bodyJoined = self._text = self._textJoined = None
        self._sent = None
        self._fields: dict[str, list[str]] = {}

    def flags(self) -> set[str]:
        if self._flags is None:
            self._flags = {f.lower() for f in self.info.flags}
        return self._flags

    def fieldTexts(self, name: str) -> list[str]:
        """HEADER name: the decoded values (the address texts for FROM, TO, CC, BCC)."""
        texts = self._fields.get(name)
        if texts is None:
            if name in _ADDRESS_HEADERS:
                values = _addressTexts(self.structure.addresses(name))
            else:
                values = self.structure.headers(name)
            texts = self._fields[name] = [v.casefold() for v in values]
        return texts

    def bodyTexts(self) -> list[str]:
        """BODY: the body as stored, and each text part with its encodings undone."""
        if self._body is None:
            s = self.structure
            self._body = [s.text().decode("utf-8", "replace").casefold()] + [
                leaf.decodedText().casefold() for leaf in s.leaves() if leaf.mainType == "text"]
        return self._body

    def texts(self) -> list[str]:
        """TEXT: the header as stored and with its encoded words decoded, then the body's."""
        if self._text is None:
            s = self.structure
            self._text = [s.headerBytes.decode("utf-8", "replace").casefold(),
                          s.headerText().casefold()] + self.bodyTexts()
        return self._text

    # The same, joined with NUL between them: one search per key (a needle without a NUL
    # matches in the joined text exactly where it matches in one of the parts).
    def bodyJoined(self) -> str:
        if self._bodyJoined is None:
            self._bodyJoined = "\0".join(self.bodyTexts())
        return self._bodyJoined

    def textJoined(self) -> str:
        if self._textJoined is None:
            self._textJoined = "\0".join(self.texts())
        return self._textJoined

    def sentDate(self):
        if self._sent is None:
            value = self.structure.header("Date")
            try:
                self._sent = parsedate_to_datetime(value).date() if value else False
            except (TypeError, ValueError):
                self._sent = False
        return self._sent or None


def _compareDay(op: str, day, ref) -> bool:
    return day < ref if op == "BEFORE" else day == ref if op == "ON" else day >= ref


def compileKey(key: SearchKey, largestSeq: int, largestUid: int):
    """A predicate on L{_Message} for C{key}; C{*} in a set is the largest number or UID."""
    op, args = key.op, key.args
    if op == "ALL":
        return lambda m: True
    if op == "AND":
        # The same key twice in an AND decides nothing new: evaluate it once.
        parts = [compileKey(k, largestSeq, largestUid) for k in dict.fromkeys(args)]

        def every(m):
            for part in parts:
                if not part(m):
                    return False
            return True
        return every
    if op in ("OR", "NOT"):
        parts = [compileKey(k, largestSeq, largestUid) for k in args]
        if op == "NOT":
            return lambda m: not parts[0](m)
        return lambda m: parts[0](m) or parts[1](m)
    if op in ("SEQ", "UID"):
        numbers = NumberSet(mergedRanges(args[0], largestSeq if op == "SEQ" else largestUid))
        if op == "SEQ":
            return lambda m: m.seq in numbers
        return lambda m: m.info.uid in numbers
    if op == "FLAG":
        flag, wanted = args[0].lower(), args[1]
        return lambda m: (flag in m.flags()) == wanted
    if op == "RECENT":
        return lambda m: m.recent
    if op == "NEW":
        return lambda m: m.recent and "\\seen" not in m.flags()
    if op == "OLD":
        return lambda m: not m.recent
    if op == "MODSEQ":
        # RFC 7162 3.1.5: at least this MODSEQ. A message has one MODSEQ for all its
        # flags here, so the entry name does not narrow it.
        least = args[0]
        return lambda m: m.modseq >= least
    if op == "LARGER":
        return lambda m: m.info.size > args[0]
    if op == "SMALLER":
        return lambda m: m.info.size < args[0]
    if op in ("BEFORE", "ON", "SINCE"):
        ref = args[0].date()
        return lambda m: _compareDay(op, m.info.internaldate.date(), ref)
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        ref, rel = args[0].date(), op[4:]

        def sent(m):
            day = m.sentDate()
            return day is not None and _compareDay(rel, day, ref)
        return sent
    if op == "HEADER":
        return _headerKey(args[0].lower(), args[1].casefold())
    if op in ("BODY", "TEXT"):
        # RFC 3501 6.4.4: a substring, compared case-insensitively.
        needle = args[0].casefold()
        texts = _Message.bodyTexts if op == "BODY" else _Message.texts
        if "\0" in needle:
            return lambda m: any(needle in t for t in texts(m))
        joined = _Message.bodyJoined if op == "BODY" else _Message.textJoined
        return lambda m: needle in joined(m)
    raise ValueError(f"unknown search key {op}")


def _headerKey(name: str, needle: str):
    """Any field called C{name} contains C{needle}; an empty needle asks that one exists."""
    if needle == "":
        return lambda m: bool(m.structure.rawHeaders(name))
    return lambda m: any(needle in t for t in m.fieldTexts(name))


def checkCharset(charset: str | None) -> None:
    if charset is not None and charset.upper() not in _CHARSETS:
        # RFC 3501 6.4.4: an unsupported charset is a NO (not a BAD) naming those we take.
        raise IMAPError(f"Unsupported charset {charset}",
                        "BADCHARSET (" + " ".join(_CHARSETS) + ")")


async def searchUids(session, charset: str | None, criteria: SearchKey) -> list[int]:
    """The UIDs, ascending, of the session's messages that match C{criteria} (in which
    C{$} is the session's saved result, RFC 5182)."""
    checkCharset(charset)
    view, mailbox = session.view, session.mailbox
    inView = view.uidsInView()
    if not inView:
        return []
    criteria = resolveSaved(criteria, session.savedSearch)
    modseqs = None
    if usesModseq(criteria):
        condstore.enable(session)  # RFC 7162 3.1: SEARCH MODSEQ enables CONDSTORE
        condstore.modseqMailbox(session)
        modseqs = await mailbox.modseqs(inView)
    elif ISearchMailbox.providedBy(mailbox):  # the backend searches (e.g. upstream)
        return list(await mailbox.search(resolveSearch(criteria, view, inView), inView))
    infos = await mailbox.messages(inView)
    matches = compileKey(criteria, len(inView), inView[-1])
    body = _needsBody(criteria)
    slices = Slices(session)
    found = []
    for info in infos:
        if slices.due():
            await slices.pause()
        structure = None
        if body:
            raw = await mailbox.body(info.uid)
            if raw is None:
                continue
            structure = MessageStructure.parse(raw)
        seq = view.seqOf(info.uid)
        modseq = modseqs.get(info.uid, 0) if modseqs is not None else 0
        if seq is not None and matches(_Message(info, seq, info.uid in view.recent,
                                                structure, modseq)):
            found.append(info.uid)
    return found


def usesModseq(key: SearchKey) -> bool:
    return key.op == "MODSEQ" or any(isinstance(a, SearchKey) and usesModseq(a)
                                     for a in key.args)


@command("SEARCH", ONLY_SELECTED, expungesAfter=False)
async def search(session, cmd):
    args = cmd.args
    saving = args.returns is not None and "SAVE" in args.returns
    try:
        uids = await searchUids(session, args.charset, args.criteria)
    except IMAPError:
        if saving:
            session.savedSearch = ()  # RFC 5182 2.1: a failed SEARCH saves nothing
        raise
    answerSearch(session, cmd, uids, await foundModseqs(session, args.criteria, uids))
    return None


async def foundModseqs(session, criteria: SearchKey, uids) -> dict[int, int] | None:
    """RFC 7162 3.1.5: with MODSEQ in the criteria, the MODSEQ of each message found (the
    answer names the highest of those it returns); else None."""
    if not uids or not usesModseq(criteria):
        return None
    return await session.mailbox.modseqs(uids)
