"""
Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
STATUS, and APPEND.
"""

from __future__ import annotations

from idlemail.errors import BadRequest, IMAPError, NoSuchMailbox
from idlemail.records import RECENT
from idlemail.server import condstore, notify
from idlemail.server.names import decodeName, encodeName, wireName
from idlemail.server.patterns import patternMatcher
from idlemail.wire.encode import string
from idlemail.server.registry import AUTHED, command

_NOSELECT = "\\Noselect"


def _name(session, raw: bytes) -> str:
    return decodeName(raw, session.account.delimiter)


@command("CREATE", AUTHED)
async def create(session, cmd):
    delimiter = session.account.delimiter
    # RFC 3501 6.3.3: a trailing delimiter only says the name will have children.
    name = _name(session, cmd.args.mailbox).rstrip(delimiter)
    if name == "INBOX":
        raise IMAPError("INBOX always exists", "ALREADYEXISTS")
    await session.account.create(name)
    notify.announce(session, "MailboxName", name)


@command("DELETE", AUTHED)
async def delete(session, cmd):
    name = _name(session, cmd.args.mailbox)
    if name == "INBOX":
        raise IMAPError("INBOX cannot be deleted", "CANNOT")
    if session.mailbox is not None and session.mailbox.name == name:
        session.deselect()
    await session.account.delete(name)
    notify.announce(session, "MailboxName", name, flag=True)


@command("RENAME", AUTHED)
async def rename(session, cmd):
    old, new = _name(session, cmd.args.old), _name(session, cmd.args.new)
    if new == "INBOX":
        raise IMAPError("Cannot rename to INBOX", "ALREADYEXISTS")
    await session.account.rename(old, new)
    notify.announce(session, "MailboxName", new, oldName=old)


@command("SUBSCRIBE", AUTHED)
async def subscribe(session, cmd):
    name = _name(session, cmd.args.mailbox)
    await session.account.subscribe(name)
    notify.announce(session, "SubscriptionChange", name, flag=True)


@command("UNSUBSCRIBE", AUTHED)
async def unsubscribe(session, cmd):
    name = _name(session, cmd.args.mailbox)
    await session.account.unsubscribe(name)
    notify.announce(session, "SubscriptionChange", name)


def _parents(name: str, delimiter: str):
    """C{"a/b/c"} -> C{"a"}, C{"a/b"}."""
    parts = name.split(delimiter)
    return (delimiter.join(parts[:i]) for i in range(1, len(parts)))


def _withParents(entries: dict[str, tuple], delimiter: str) -> dict[str, tuple]:
    """Add the levels of the hierarchy that hold children but are not mailboxes."""
    out = dict(entries)
    for name in entries:
        for parent in _parents(name, delimiter):
            out.setdefault(parent, (_NOSELECT,))
    return out


def _listLine(kind: bytes, attributes, delimiter: str, name: str) -> bytes:
    attrs = " ".join(attributes).encode()
    return kind + b" (" + attrs + b') "' + delimiter.encode() + b'" ' + encodeName(name)


def _checkPattern(raw: bytes, what: str) -> None:
    # RFC 3501 9: list-mailbox and quoted strings are 7-bit. A pattern that is not valid
    # modified UTF-7 is matched as spelled (see patterns.py).
    if raw and max(raw) >= 0x80:
        raise BadRequest(f"The {what} must be 7-bit (modified UTF-7, RFC 3501 5.1.3)")


async def _subscribedEntries(account, names, matches, wildcardStops: bool):
    """
    LSUB's entries: the subscribed names, and (RFC 3501 6.3.9) for a C{%} pattern the
    unsubscribed parents it matches of subscribed names it does not, as \\Noselect.
    """
    subscribed = set(await account.subscriptions())
    entries = {n: (() if n in names else (_NOSELECT,)) for n in subscribed}
    if wildcardStops:
        delimiter = account.delimiter
        for name in subscribed:
            if matches(wireName(name)):
                continue
            for parent in _parents(name, delimiter):
                if parent not in subscribed and matches(wireName(parent)):
                    entries[parent] = (_NOSELECT,)
    return entries


async def _list(session, cmd, subscribedOnly: bool):
    account = session.account
    delimiter = account.delimiter
    reference, pattern = cmd.args.reference, cmd.args.pattern
    _checkPattern(reference, "reference")
    _checkPattern(pattern, "pattern")
    kind = b"LSUB" if subscribedOnly else b"LIST"
    if pattern == b"":
        # RFC 3501 6.3.8: the delimiter and the root of the reference.
        sep = delimiter.encode()
        root = reference.split(sep)[0] + sep if sep in reference else b""
        session.untagged(kind + b' (\\Noselect) "' + sep + b'" ' + string(root))
        return None
    matches = patternMatcher(reference, pattern, delimiter)
    infos = await account.listMailboxes()
    entries = {info.name: tuple(info.attributes) for info in infos}
    names = set(entries)
    if subscribedOnly:
        entries = await _subscribedEntries(account, names, matches, b"%" in pattern)
    else:
        entries = _withParents(entries, delimiter)
    prefixes = {n.rsplit(delimiter, 1)[0] for n in names if delimiter in n}
    for name in sorted(entries, key=lambda n: (n != "INBOX", n)):
        if not matches(wireName(name)):
            continue
        attributes = list(entries[name])
        if not subscribedOnly:
            attributes.append("\\HasChildren" if name in prefixes else "\\HasNoChildren")
        session.untagged(_listLine(kind, attributes, delimiter, name))
    return None


@command("LIST", AUTHED)
async def list_(session, cmd):
    return await _list(session, cmd, subscribedOnly=False)


@command("LSUB", AUTHED)
async def lsub(session, cmd):
    return await _list(session, cmd, subscribedOnly=True)


@command("STATUS", AUTHED)
async def status(session, cmd):
    name = _name(session, cmd.args.mailbox)
    if "HIGHESTMODSEQ" in cmd.args.items:
        condstore.enable(session)  # RFC 7162 3.1: STATUS (HIGHESTMODSEQ) enables it
    figures = await session.account.status(name)
    values = " ".join(f"{item} {getattr(figures, item.lower())}" for item in cmd.args.items)
    session.untagged(b"STATUS " + encodeName(name) + b" (" + values.encode() + b")")


@command("APPEND", AUTHED)
async def append(session, cmd):
    args = cmd.args
    name = _name(session, args.mailbox)
    if not args.message:
        raise IMAPError("Empty message")
    flags = [f for f in args.flags if f != RECENT]
    selected = session.mailbox
    if selected is not None and selected.name == name and not selected.readonly:
        mailbox, opened = selected, False
    else:
        try:
            mailbox = await session.account.open(name, False)
        except NoSuchMailbox:
            raise IMAPError(f"Mailbox doesn't exist: {name}", "TRYCREATE")
        opened = True
    try:
        if mailbox.readonly:
            raise IMAPError("Mailbox is read-only", "READ-ONLY")
        uid = await mailbox.append(args.message, flags, args.date)
        return (f"APPENDUID {mailbox.uidValidity} {uid}", "APPEND completed")
    finally:
        if opened:
            mailbox.close()
