"""
Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
STATUS, and APPEND.
"""

from __future__ import annotations

import re

from idlemail.errors import NoSuchMailbox
from idlemail.server.names import decodeName, encodeName
from idlemail.server.registry import AUTHED, CommandFailed, command


def _name(session, raw: bytes) -> str:
    return decodeName(raw, session.account.delimiter)


@command("CREATE", AUTHED)
async def create(session, cmd):
    delimiter = session.account.delimiter
    # RFC 3501 6.3.3: a trailing delimiter only says the name will have children.
    name = _name(session, cmd.args[0]).rstrip(delimiter)
    if name == "INBOX":
        raise CommandFailed("INBOX always exists", "NO", "ALREADYEXISTS")
    await session.account.create(name)


@command("DELETE", AUTHED)
async def delete(session, cmd):
    name = _name(session, cmd.args[0])
    if name == "INBOX":
        raise CommandFailed("INBOX cannot be deleted", "NO", "CANNOT")
    if session.mailbox is not None and session.mailbox.name == name:
        session.deselect()
    await session.account.delete(name)


@command("RENAME", AUTHED)
async def rename(session, cmd):
    old, new = (_name(session, raw) for raw in cmd.args)
    if new == "INBOX":
        raise CommandFailed("Cannot rename to INBOX", "NO", "ALREADYEXISTS")
    await session.account.rename(old, new)


@command("SUBSCRIBE", AUTHED)
async def subscribe(session, cmd):
    await session.account.subscribe(_name(session, cmd.args[0]))


@command("UNSUBSCRIBE", AUTHED)
async def unsubscribe(session, cmd):
    await session.account.unsubscribe(_name(session, cmd.args[0]))


def patternMatcher(reference: str, pattern: str, delimiter: str):
    """RFC 3501 6.3.8: C{*} matches anything, C{%} anything but the delimiter."""
    whole = reference + pattern
    regex = "".join(".*" if c == "*" else f"[^{re.escape(delimiter)}]*" if c == "%"
                    else re.escape(c) for c in whole)
    compiled = re.compile(regex, re.DOTALL)
    inbox = re.compile(regex, re.DOTALL | re.IGNORECASE)

    def matches(name: str) -> bool:
        if name == "INBOX" or name.upper().startswith("INBOX" + delimiter):
            return bool(inbox.fullmatch(name))
        return bool(compiled.fullmatch(name))
    return matches


def _withParents(entries: dict[str, tuple], delimiter: str) -> dict[str, tuple]:
    """Add the levels of the hierarchy that hold children but are not mailboxes."""
    out = dict(entries)
    for name in entries:
        parts = name.split(delimiter)
        for i in range(1, len(parts)):
            parent = delimiter.join(parts[:i])
            out.setdefault(parent, ("\\Noselect",))
    return out


def _listLine(kind: bytes, attributes, delimiter: str, name: str) -> bytes:
    attrs = " ".join(attributes).encode()
    return kind + b" (" + attrs + b') "' + delimiter.encode() + b'" ' + encodeName(name)


async def _list(session, cmd, subscribedOnly: bool):
    account = session.account
    delimiter = account.delimiter
    reference = cmd.args[0].decode("imap4-utf-7", "replace")
    pattern = cmd.args[1].decode("imap4-utf-7", "replace")
    kind = b"LSUB" if subscribedOnly else b"LIST"
    if pattern == "":
        # RFC 3501 6.3.8: the delimiter and the root of the reference.
        root = reference.split(delimiter)[0] + delimiter if delimiter in reference else ""
        session.untagged(kind + b' (\\Noselect) "' + delimiter.encode() + b'" '
                         + encodeName(root))
        return None
    infos = await account.listMailboxes()
    entries = {info.name: tuple(info.attributes) for info in infos}
    names = set(entries)
    if subscribedOnly:
        subscribed = set(await account.subscriptions())
        entries = {n: (a if n in names else ("\\Noselect",)) for n, a in entries.items()
                   if n in subscribed}
    else:
        entries = _withParents(entries, delimiter)
    matches = patternMatcher(reference, pattern, delimiter)
    prefixes = {n.rsplit(delimiter, 1)[0] for n in names if delimiter in n}
    for name in sorted(entries, key=lambda n: (n != "INBOX", n)):
        if not matches(name):
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
    raw, items = cmd.args
    name = _name(session, raw)
    figures = await session.account.status(name)
    values = " ".join(f"{item} {getattr(figures, item.lower())}" for item in items)
    session.untagged(b"STATUS " + encodeName(name) + b" (" + values.encode() + b")")


@command("APPEND", AUTHED)
async def append(session, cmd):
    raw, flags, date, message = cmd.args
    name = _name(session, raw)
    if not message:
        raise CommandFailed("Empty message", "NO")
    flags = [f for f in flags if f.lower() != "\\recent"]
    selected = session.mailbox
    if selected is not None and selected.name == name and not selected.readonly:
        mailbox, opened = selected, False
    else:
        try:
            mailbox = await session.account.open(name, False)
        except NoSuchMailbox:
            raise CommandFailed(f"Mailbox doesn't exist: {name}", "NO", "TRYCREATE")
        opened = True
    try:
        if mailbox.readonly:
            raise CommandFailed("Mailbox is read-only", "NO", "READ-ONLY")
        uid = await mailbox.append(message, flags, date)
        return (f"APPENDUID {mailbox.uidValidity} {uid}", "APPEND completed")
    finally:
        if opened:
            mailbox.close()
