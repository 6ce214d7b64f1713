"""
Selecting a mailbox and leaving it: SELECT, EXAMINE, CLOSE, UNSELECT, CHECK, EXPUNGE.
"""

from __future__ import annotations

from idlemail.errors import BadRequest, IMAPError
from idlemail.interfaces import ICatchUpMailbox, IModSeqMailbox
from idlemail.server import condstore
from idlemail.server.names import decodeName
from idlemail.server.registry import AUTHED, ONLY_SELECTED, command
from idlemail.server.sequences import resolveUids

_SEEN = "\\Seen"


async def _open(session, cmd, readonly: bool):
    args = cmd.args
    if args.qresync is not None and not session.qresync:
        # RFC 7162 3.2.5: QRESYNC parameters without ENABLE QRESYNC first are BAD.
        raise BadRequest("QRESYNC is not enabled (ENABLE QRESYNC first)")
    closed = session.mailbox is not None
    session.deselect()  # RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected
    if closed and condstore.offered(session):
        # RFC 7162 3.2.11: what follows is about the new mailbox, not the one closed.
        session.untagged(b"OK [CLOSED] Previous mailbox closed")
    if args.condstore:
        condstore.enable(session, announce=False)  # RFC 7162 3.1.8
    name = decodeName(args.mailbox, session.account.delimiter)
    mailbox = await session.account.open(name, readonly)
    if session.state not in AUTHED:  # connection lost meanwhile
        mailbox.close()
        return None
    readonly = readonly or mailbox.readonly
    view = mailbox.tracker.openSession(session.wake, readonly)
    session.select(mailbox, view)
    uids = view.uidsInView()
    flags = await mailbox.flags(uids) if uids else {}
    firstUnseen = next((seq for seq, uid in enumerate(uids, 1)
                        if uid in flags and _SEEN not in flags[uid]), None)
    view.takeKeywords()  # told here, with the FLAGS below
    flagsLine, permanentLine = session.flagsResponses(mailbox.tracker.keywords)
    session.untagged(flagsLine)
    session.untagged(b"%d EXISTS" % view.exists)
    session.untagged(b"%d RECENT" % len(view.recent))
    if firstUnseen is not None:
        session.untagged(b"OK [UNSEEN %d] First unseen" % firstUnseen)
    session.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % mailbox.uidValidity)
    session.untagged(b"OK [UIDNEXT %d] Predicted next UID" % mailbox.uidNext)
    session.untagged(permanentLine)
    if IModSeqMailbox.providedBy(mailbox) and condstore.offered(session):
        # RFC 7162 3.1.2.1: on every SELECT and EXAMINE, CONDSTORE enabled or not.
        session.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % view.toldModseq())
        qresync = args.qresync
        if qresync is not None and qresync.uidValidity == mailbox.uidValidity:
            await condstore.resync(session, qresync)
    return ("READ-ONLY" if readonly else "READ-WRITE",
            f"{cmd.name} completed")


@command("SELECT", AUTHED)
async def select(session, cmd):
    return await _open(session, cmd, readonly=False)


@command("EXAMINE", AUTHED)
async def examine(session, cmd):
    return await _open(session, cmd, readonly=True)


@command("CLOSE", ONLY_SELECTED)
async def close(session, cmd):
    # RFC 3501 6.4.2: expunge silently, then leave the mailbox.
    if not session.view.readonly:
        await session.mailbox.expunge(origin=session.view)
    session.deselect()


@command("UNSELECT", ONLY_SELECTED)
async def unselect(session, cmd):
    session.deselect()  # RFC 3691


async def catchUp(session) -> None:
    """For NOOP and CHECK, a client's ways to ask for news: a mailbox that other
    processes change (L{ICatchUpMailbox}) is read again first."""
    mailbox = session.mailbox
    if mailbox is not None and ICatchUpMailbox.providedBy(mailbox):
        await mailbox.catchUp()


@command("CHECK", ONLY_SELECTED)
async def check(session, cmd):
    await catchUp(session)
    return None


def requireWritable(session) -> None:
    if session.view.readonly:
        raise IMAPError("Mailbox is read-only", "READ-ONLY")


@command("EXPUNGE", ONLY_SELECTED)
async def expunge(session, cmd):
    requireWritable(session)
    uids = resolveUids(session, cmd.args.sequenceSet, True) if cmd.uid else None
    if uids == []:
        return None
    await session.mailbox.expunge(uids, origin=session.view)
    # The EXPUNGE responses are this session's pending updates, sent before the OK.
