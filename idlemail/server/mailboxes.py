"""
Mailbox management: CREATE (with CREATE-SPECIAL-USE, RFC 6154 3), DELETE, RENAME,
SUBSCRIBE, UNSUBSCRIBE, STATUS. LIST and LSUB are in L{idlemail.server.listing}, APPEND in
L{idlemail.server.appending}.
"""

from __future__ import annotations

from idlemail.errors import IMAPError
from idlemail.interfaces import ISpecialUseAccount
from idlemail.server import condstore, notify
from idlemail.server.names import decodeName
from idlemail.server.registry import AUTHED, command
from idlemail.server.specialuse import CREATABLE
from idlemail.server.statusline import statusResponse


def _name(session, raw: bytes) -> str:
    return decodeName(raw, session.account.delimiter)


@command("CREATE", AUTHED)
async def create(session, cmd):
    name = await _create(session, cmd)
    notify.announce(session, "MailboxName", name)  # RFC 5465 5.4


async def _create(session, cmd) -> str:
    """Create the mailbox; its name."""
    delimiter = session.account.delimiter
    # RFC 3501 6.3.3: a trailing delimiter only says the name will have children.
    name = _name(session, cmd.args.mailbox).rstrip(delimiter)
    if name == "INBOX":
        raise IMAPError("INBOX always exists", "ALREADYEXISTS")
    uses = cmd.args.uses
    if not uses:  # no USE, or USE () (RFC 6154 3: no special use asked for)
        await session.account.create(name)
        return name
    account = session.account
    unknown = [u for u in uses if u not in CREATABLE]
    if unknown:
        raise IMAPError(f"Cannot create a mailbox for {' '.join(unknown)}", "USEATTR")
    if ISpecialUseAccount.providedBy(account):
        await account.createSpecialUse(name, uses)
        return name
    # Special use by name only: a name that has this use already is created as usual;
    # any other is not created at all, rather than created without its use (RFC 6154 3).
    byName = session.factory.specialUseNames.uses(name, (), account.delimiter)
    if set(byName) != set(uses):
        raise IMAPError("This server gives special use by mailbox name only "
                        f"({', '.join(session.factory.specialUseNames.namesFor(uses))})",
                        "USEATTR")
    await account.create(name)
    return name


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
    notify.announce(session, "SubscriptionChange", name, flag=True)  # RFC 5465 5.5


@command("UNSUBSCRIBE", AUTHED)
async def unsubscribe(session, cmd):
    name = _name(session, cmd.args.mailbox)
    await session.account.unsubscribe(name)
    notify.announce(session, "SubscriptionChange", name)


@command("STATUS", AUTHED)
async def status(session, cmd):
    name = _name(session, cmd.args.mailbox)
    if "HIGHESTMODSEQ" in cmd.args.items:
        condstore.enable(session)  # RFC 7162 3.1: STATUS (HIGHESTMODSEQ) enables it
    figures = await session.account.status(name)
    session.untagged(statusResponse(name, figures, cmd.args.items))
