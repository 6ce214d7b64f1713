"""
SEARCH and UID SEARCH (RFC 3501 6.4.4), evaluated over the backend's messages.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from idlemail.errors import IMAPError
from idlemail.interfaces import ISearchMailbox
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.searchuids import resolveSearch
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


class _Candidate:
    __slots__ = ("info", "seq", "structure", "recent", "largestSeq", "largestUid")

    def __init__(self, info, seq, structure, recent, largestSeq, largestUid):
        self.info, self.seq, self.structure = info, seq, structure
        self.recent, self.largestSeq, self.largestUid = recent, largestSeq, largestUid


def _contains(haystack: str | None, needle: str) -> bool:
    """RFC 3501 6.4.4: a substring, compared case-insensitively."""
    return haystack is not None and needle.casefold() in haystack.casefold()


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


def _headerMatches(structure: MessageStructure, name: str, needle: str) -> bool:
    """Any field called C{name} contains C{needle}; an empty needle asks that one exists."""
    name = name.lower()
    if needle == "":
        return bool(structure.rawHeaders(name))
    if name in _ADDRESS_HEADERS:
        return any(_contains(text, needle) for text in _addressTexts(structure.addresses(name)))
    return any(_contains(value, needle) for value in structure.headers(name))


def _bodyMatches(structure: MessageStructure, needle: str) -> bool:
    """The body as stored, or any text part with its transfer encoding and charset undone."""
    if _contains(structure.text().decode("utf-8", "replace"), needle):
        return True
    return any(leaf.mainType == "text" and _contains(leaf.decodedText(), needle)
               for leaf in structure.leaves())


def _textMatches(structure: MessageStructure, needle: str) -> bool:
    """TEXT: the header as stored or with its encoded words decoded, or the body."""
    return (_contains(structure.headerBytes.decode("utf-8", "replace"), needle)
            or _contains(structure.headerText(), needle) or _bodyMatches(structure, needle))


def _sentDate(m: _Candidate):
    value = m.structure.header("Date")
    try:
        return parsedate_to_datetime(value).date() if value else None
    except (TypeError, ValueError):
        return None


def matches(key: SearchKey, m: _Candidate) -> bool:
    op, args = key.op, key.args
    if op == "ALL":
        return True
    if op == "AND":
        return all(matches(k, m) for k in args)
    if op == "OR":
        return matches(args[0], m) or matches(args[1], m)
    if op == "NOT":
        return not matches(args[0], m)
    if op == "SEQ":
        return args[0].contains(m.seq, m.largestSeq)
    if op == "UID":
        return args[0].contains(m.info.uid, m.largestUid)
    if op == "FLAG":
        flag, wanted = args
        has = flag.lower() in {f.lower() for f in m.info.flags}
        return has == wanted
    if op == "RECENT":
        return m.recent
    if op == "NEW":
        return m.recent and "\\Seen" not in m.info.flags
    if op == "OLD":
        return not m.recent
    if op == "LARGER":
        return m.info.size > args[0]
    if op == "SMALLER":
        return m.info.size < args[0]
    if op in ("BEFORE", "ON", "SINCE"):
        day = m.info.internaldate.date()
        return _compareDay(op, day, args[0].date())
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        day = _sentDate(m)
        return day is not None and _compareDay(op[4:], day, args[0].date())
    if op == "HEADER":
        return _headerMatches(m.structure, *args)
    if op == "BODY":
        return _bodyMatches(m.structure, args[0])
    if op == "TEXT":
        return _textMatches(m.structure, args[0])
    raise ValueError(f"unknown search key {op}")


def _compareDay(op: str, day, ref) -> bool:
    return day < ref if op == "BEFORE" else day == ref if op == "ON" else day >= ref


@command("SEARCH", ONLY_SELECTED, expungesAfter=False)
async def search(session, cmd):
    charset, criteria = cmd.args.charset, cmd.args.criteria
    if charset is not None and charset.upper() not in _CHARSETS:
        # RFC 3501 6.4.4: an unsupported charset is a NO (not a BAD) naming those we take.
        raise IMAPError(f"Unsupported charset {charset}",
                        "BADCHARSET (" + " ".join(_CHARSETS) + ")")
    view, mailbox = session.view, session.mailbox
    inView = view.uidsInView()
    if ISearchMailbox.providedBy(mailbox):  # the backend searches (e.g. upstream)
        uids = await mailbox.search(resolveSearch(criteria, view, inView), inView) \
            if inView else []
        found = uids if cmd.uid else [n for n in map(view.seqOf, uids) if n is not None]
        session.untagged(b"SEARCH" + b"".join(b" %d" % n for n in found))
        return None
    infos = await mailbox.messages(inView) if inView else []
    body = _needsBody(criteria)
    found = []
    largestSeq, largestUid = len(inView), (inView[-1] if inView else 0)
    for info in infos:
        structure = None
        if body:
            raw = await mailbox.body(info.uid)
            if raw is None:
                continue
            structure = MessageStructure.parse(raw)
        seq = view.seqOf(info.uid)
        candidate = _Candidate(info, seq, structure, info.uid in view.recent,
                               largestSeq, largestUid)
        if matches(criteria, candidate):
            found.append(info.uid if cmd.uid else seq)
    session.untagged(b"SEARCH" + b"".join(b" %d" % n for n in found))
    return None

