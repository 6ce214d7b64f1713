"""
APPEND (RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502: several messages, all or none),
literal8 messages (BINARY, RFC 3516 4.4) and CATENATE (RFC 4469: a message made of text
literals and IMAP URLs of messages in the same user's mailboxes).

Every literal is judged by the framer before it is read (protocol.py): one APPEND's
literals together are held to the append limit, and none is read before login. What a
CATENATE's URLs add is held to the same limit here, before anything is stored.
"""

from __future__ import annotations

from idlemail.errors import IMAPError, NoSuchMailbox
from idlemail.records import RECENT
from idlemail.server.sequences import compactSet
from idlemail.server.names import decodeName
from idlemail.server.registry import AUTHED, command
from idlemail.wire.imapurl import BadURL, parseMessageURL
from idlemail.wire.message import MessageStructure
from idlemail.wire.transfer import encodeBinaryParts

_DELETED = "\\Deleted"


async def _opened(session, name: str, what: str):
    """C{(mailbox, opened)}: the selected mailbox if it is C{name}, else one opened now."""
    selected = session.mailbox
    if selected is not None and selected.name == name and (what == "read" or not selected.readonly):
        return selected, False
    try:
        return await session.account.open(name, what == "read"), True
    except NoSuchMailbox:
        if what == "read":
            raise
        raise IMAPError(f"Mailbox doesn't exist: {name}", "TRYCREATE")


class _Sources:
    """The mailboxes CATENATE's URLs read from, each opened once per APPEND."""

    def __init__(self, session):
        self.session = session
        self.open: dict[str, tuple] = {}

    async def part(self, url: bytes) -> bytes:
        quoted = url.decode("ascii", "replace").replace("\\", "\\\\").replace('"', '\\"')

        def bad(why: str) -> IMAPError:
            return IMAPError(f"Cannot use {quoted}: {why}", f'BADURL "{quoted}"')
        try:
            where = parseMessageURL(url)
        except BadURL as e:
            raise bad(str(e)) from None
        session = self.session
        if where.user is not None and where.user != session.user:
            raise bad("only the messages of your own mailboxes can be used")
        if where.mailbox not in self.open:
            try:
                name = decodeName(where.mailbox.encode("imap4-utf-7"), session.account.delimiter)
                self.open[where.mailbox] = await _opened(session, name, "read")
            except IMAPError:
                raise bad("no such mailbox") from None
        mailbox = self.open[where.mailbox][0]
        if where.uidValidity is not None and where.uidValidity != mailbox.uidValidity:
            raise bad("the mailbox's UIDVALIDITY has changed")
        raw = await mailbox.body(where.uid)
        if raw is None:
            raise bad("no such message")
        data = raw
        if where.section.part or where.section.text:
            data = MessageStructure.parse(raw).section(where.section)
            if data is None:
                raise bad("no such section")
        if where.partial is not None:
            start, length = where.partial
            data = data[start:] if length is None else data[start:start + length]
        return bytes(data)

    def close(self) -> None:
        for mailbox, opened in self.open.values():
            if opened:
                mailbox.close()


async def _assemble(session, message, sources: _Sources, limit: int) -> bytes:
    if not message.catenate:
        return message.message
    pieces, size = [], 0
    for part in message.catenate:
        data = part.data if part.kind == "TEXT" else await sources.part(part.data)
        size += len(data)
        if size > limit:
            raise IMAPError(f"Message too big: over {limit} octets", "TOOBIG")
        pieces.append(data)
    return b"".join(pieces)


@command("APPEND", AUTHED)
async def append(session, cmd):
    args = cmd.args
    name = decodeName(args.mailbox, session.account.delimiter)
    # The destination first: a missing one is NO [TRYCREATE] whatever the URLs say, so a
    # client creates it and tries again (RFC 4469 5, as Dovecot and imaptest have it).
    mailbox, opened = await _opened(session, name, "write")
    try:
        if mailbox.readonly:
            raise IMAPError("Mailbox is read-only", "READ-ONLY")
        sources = _Sources(session)
        try:
            # Everything is made first: a bad URL or an empty message stores nothing.
            bodies = [await _assemble(session, m, sources, session.factory.appendLimit)
                      for m in args.messages]
        finally:
            sources.close()
        if not all(bodies):
            raise IMAPError("Empty message")
        bodies = [encodeBinaryParts(body) for body in bodies]  # NUL only comes in literal8
        uids = await _appendAll(mailbox, args.messages, bodies)
        return (f"APPENDUID {mailbox.uidValidity} {compactSet(uids)}", "APPEND completed")
    finally:
        if opened:
            mailbox.close()


async def _appendAll(mailbox, messages, bodies) -> list[int]:
    """Append every message, or none: those appended before a failure are removed again
    (RFC 3502 6.3.11: a MULTIAPPEND that fails appends nothing)."""
    uids: list[int] = []
    try:
        for message, body in zip(messages, bodies):
            flags = [f for f in message.flags if f != RECENT]
            uids.append(await mailbox.append(body, flags, message.date))
    except Exception:
        if uids:
            await mailbox.store(uids, [_DELETED], "+")
            await mailbox.expunge(uids)
        raise
    return uids
