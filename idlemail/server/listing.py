"""
LIST and LSUB (RFC 3501 6.3.8, 6.3.9), with LIST-EXTENDED (RFC 5258: selection options
SUBSCRIBED, REMOTE, RECURSIVEMATCH; return options SUBSCRIBED, CHILDREN; several patterns),
LIST-STATUS (RFC 5819: a STATUS response after each mailbox's LIST response) and
SPECIAL-USE (RFC 6154: the selection and return option, and the attributes).
"""

from __future__ import annotations

from idlemail.errors import BadRequest, IMAPError
from idlemail.server.names import encodeName, wireName
from idlemail.server.patterns import patternMatcher
from idlemail.server.registry import AUTHED, command
from idlemail.server.specialuse import isSpecialUse
from idlemail.server.statusline import statusResponse
from idlemail.wire.encode import string

_NOSELECT = "\\Noselect"
_NONEXISTENT = "\\NonExistent"  # RFC 5258 3.4; implies \Noselect
_NOT_SELECTABLE = {_NOSELECT.lower(), _NONEXISTENT.lower()}


def _parents(name: str, delimiter: str):
    """C{"a/b/c"} -> C{"a"}, C{"a/b"}."""
    parts = name.split(delimiter)
    return (delimiter.join(parts[:i]) for i in range(1, len(parts)))


def _checkPattern(raw: bytes, what: str) -> None:
    # RFC 3501 9: list-mailbox and quoted strings are 7-bit. A pattern that is not valid
    # modified UTF-7 is matched as spelled (see patterns.py).
    if raw and max(raw) >= 0x80:
        raise BadRequest(f"The {what} must be 7-bit (modified UTF-7, RFC 3501 5.1.3)")


def _listLine(kind: bytes, attributes, delimiter: str, name: str, extra: bytes = b"") -> bytes:
    attrs = " ".join(attributes).encode()
    return (kind + b" (" + attrs + b') "' + delimiter.encode() + b'" ' + encodeName(name)
            + extra)


def _delimiterLine(session, kind: bytes, reference: bytes) -> None:
    # RFC 3501 6.3.8: an empty pattern asks for the delimiter and the reference's root.
    sep = session.account.delimiter.encode()
    root = reference.split(sep)[0] + sep if sep in reference else b""
    session.untagged(kind + b' (\\Noselect) "' + sep + b'" ' + string(root))


class _Tree:
    """The mailboxes of an account as LIST sees them: attributes, special uses, children."""

    def __init__(self, infos, delimiter: str, names):
        self.delimiter = delimiter
        self.attributes = {i.name: tuple(a for a in i.attributes if not isSpecialUse(a))
                           for i in infos}
        self.uses = {i.name: names.uses(i.name, i.attributes, delimiter) for i in infos}
        self.withChildren = {p for n in self.attributes for p in _parents(n, delimiter)}

    def exists(self, name: str) -> bool:
        return name in self.attributes

    def selectable(self, name: str) -> bool:
        return self.exists(name) and not any(
            a.lower() in _NOT_SELECTABLE for a in self.attributes[name])

    def children(self, name: str) -> str:
        return "\\HasChildren" if name in self.withChildren else "\\HasNoChildren"


async def _lsub(session, args) -> None:
    account = session.account
    delimiter = account.delimiter
    pattern = args.patterns[0]
    matches = patternMatcher(args.reference, pattern, delimiter)
    names = {i.name for i in await account.listMailboxes()}
    subscribed = set(await account.subscriptions())
    entries = {n: (() if n in names else (_NOSELECT,)) for n in subscribed}
    if b"%" in pattern:
        # RFC 3501 6.3.9: a % pattern also lists, as \Noselect, the unsubscribed parents
        # it matches of subscribed names it does not.
        for name in subscribed:
            if matches(wireName(name)):
                continue
            for parent in _parents(name, delimiter):
                if parent not in subscribed and matches(wireName(parent)):
                    entries[parent] = (_NOSELECT,)
    for name in _ordered(entries):
        if matches(wireName(name)):
            session.untagged(_listLine(b"LSUB", entries[name], delimiter, name))


def _ordered(names):
    return sorted(names, key=lambda n: (n != "INBOX", n))


async def _list(session, args) -> None:
    account = session.account
    delimiter = account.delimiter
    selection, returns = args.selection, args.returns
    matchers = [patternMatcher(args.reference, p, delimiter) for p in args.patterns if p]

    def matches(name: str) -> bool:
        wire = wireName(name)
        return any(m(wire) for m in matchers)

    tree = _Tree(await account.listMailboxes(), delimiter, session.factory.specialUseNames)
    wantSubscribed = "SUBSCRIBED" in selection or "SUBSCRIBED" in returns
    subscribed = set(await account.subscriptions()) if wantSubscribed else set()
    candidates = set(tree.attributes) | tree.withChildren
    criteria = []  # RFC 5258 3.1: what a listed mailbox must be, besides matching
    if "SUBSCRIBED" in selection:
        criteria.append(("SUBSCRIBED", lambda n: n in subscribed))
        # Subscribed names are listed whether they exist or not (then \NonExistent).
        candidates |= subscribed | {p for n in subscribed for p in _parents(n, delimiter)}
    if "SPECIAL-USE" in selection:
        criteria.append(("SPECIAL-USE", lambda n: bool(tree.uses.get(n))))
    recursive = "RECURSIVEMATCH" in selection
    childInfo = _childInfo(candidates, criteria, matches, delimiter) if recursive else {}
    statusItems = args.statusItems if "STATUS" in returns else ()
    for name in _ordered(candidates):
        if not matches(name):
            continue
        meets = all(test(name) for _, test in criteria)
        if not meets and name not in childInfo:
            continue
        if tree.exists(name):
            attributes = list(tree.attributes[name])
        elif name in tree.withChildren:
            attributes = [_NOSELECT]  # a level of the hierarchy that holds no mail
        else:
            attributes = [_NONEXISTENT]
        attributes.append(tree.children(name))
        if wantSubscribed and name in subscribed:
            attributes.append("\\Subscribed")
        attributes.extend(tree.uses.get(name, ()))
        extra = b""
        if name in childInfo:
            extra = b' ("CHILDINFO" (' + b" ".join(
                b'"%s"' % c.encode() for c in childInfo[name]) + b"))"
        session.untagged(_listLine(b"LIST", attributes, delimiter, name, extra))
        if statusItems and tree.selectable(name):
            await _status(session, name, statusItems)


def _childInfo(candidates, criteria, matches, delimiter: str) -> dict[str, list[str]]:
    """
    RFC 5258 3.5 (RECURSIVEMATCH): for each name, the selection criteria that one of its
    descendants meets while not matching the patterns itself.
    """
    out: dict[str, list[str]] = {}
    for name in candidates:
        if matches(name):
            continue
        for what, test in criteria:
            if test(name):
                for parent in _parents(name, delimiter):
                    found = out.setdefault(parent, [])
                    if what not in found:
                        found.append(what)
    return out


async def _status(session, name: str, items) -> None:
    # RFC 5819 2: a mailbox whose status cannot be had is listed without one.
    try:
        figures = await session.account.status(name)
    except IMAPError:
        return
    session.untagged(statusResponse(name, figures, items))


@command("LIST", AUTHED)
async def list_(session, cmd):
    args = cmd.args
    _checkPattern(args.reference, "reference")
    for pattern in args.patterns:
        _checkPattern(pattern, "pattern")
    if args.patterns == (b"",) and not args.selection:
        _delimiterLine(session, b"LIST", args.reference)
        return None
    await _list(session, args)
    return None


@command("LSUB", AUTHED)
async def lsub(session, cmd):
    args = cmd.args
    _checkPattern(args.reference, "reference")
    _checkPattern(args.patterns[0], "pattern")
    if args.patterns == (b"",):
        _delimiterLine(session, b"LSUB", args.reference)
        return None
    await _lsub(session, args)
    return None
