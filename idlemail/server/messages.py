"""
Changing messages of the selected mailbox: STORE, COPY, MOVE (RFC 6851), and their
UID forms (RFC 3501 6.4.6-6.4.8, RFC 4315 COPYUID).
"""

from __future__ import annotations

from idlemail.errors import IMAPError, NoSuchMailbox
from idlemail.records import RECENT
from idlemail.server import condstore
from idlemail.server.names import decodeName
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.responses import fetchFlags
from idlemail.server.selection import requireWritable
from idlemail.server.sequences import compactSet, resolveUids


@command("STORE", ONLY_SELECTED, expungesAfter=False)
async def store(session, cmd):
    args = cmd.args
    requireWritable(session)
    view, mailbox = session.view, session.mailbox
    conditional = args.unchangedSince is not None
    if conditional:
        condstore.enable(session)  # RFC 7162 3.1: UNCHANGEDSINCE enables CONDSTORE
        condstore.modseqMailbox(session)
    uids = resolveUids(session, args.sequenceSet, cmd.uid)
    # \Recent is the server's to set (RFC 3501 2.3.2).
    flags = [f for f in args.flags if f != RECENT]
    if not uids:
        return None
    modified: list[int] = []
    if conditional:
        result, modified = await mailbox.storeUnchangedSince(
            uids, flags, args.mode, args.unchangedSince, origin=view)
    else:
        result = await mailbox.store(uids, flags, args.mode, origin=view)
    session.announceKeywords()  # before any FETCH that shows a new one
    # With CONDSTORE on, a flag change is told with its UID and MODSEQ (RFC 7162 3.1),
    # and UNCHANGEDSINCE tells it even with .SILENT (RFC 7162 3.1.3).
    withModseq = session.condstore and not (args.silent and not conditional)
    modseqs = await mailbox.modseqs(list(result)) if withModseq and result else {}
    if not args.silent or conditional:
        # Tell every stored message's flags, changed or not; the tracker's copy of
        # our own change is then dropped (ownFlags=False after STORE).
        for uid in uids:
            seq = view.seqOf(uid)
            if uid in result and seq is not None:
                session.untagged(fetchFlags(
                    seq, result[uid], uid in view.recent,
                    uid if cmd.uid or withModseq else None, modseqs.get(uid)))
    if modified:
        numbers = modified if cmd.uid else sorted(n for u in modified
                                                  if (n := view.seqOf(u)) is not None)
        return ("MODIFIED " + compactSet(numbers), "Conditional STORE failed")
    if len(result) < len(uids):
        return ("EXPUNGEISSUED", "Some of the messages were expunged")
    return None


async def _copy(session, cmd, move: bool):
    if move:
        requireWritable(session)
    destination = decodeName(cmd.args.mailbox, session.account.delimiter)
    uids = resolveUids(session, cmd.args.sequenceSet, cmd.uid)
    if not uids:
        return None
    try:
        validity, pairs = await session.mailbox.copy(uids, destination, move,
                                                     origin=session.view)
    except NoSuchMailbox:
        raise IMAPError(f"Mailbox doesn't exist: {destination}", "TRYCREATE")
    if not pairs:
        return None
    code = (f"COPYUID {validity} {compactSet(p[0] for p in pairs)} "
            f"{compactSet(p[1] for p in pairs)}")
    if move:
        # RFC 6851 3.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        session.untagged(b"OK [" + code.encode() + b"] Moved")
        return None
    return (code, "COPY completed")


@command("COPY", ONLY_SELECTED)
async def copy(session, cmd):
    return await _copy(session, cmd, move=False)


@command("MOVE", ONLY_SELECTED)
async def move(session, cmd):
    return await _copy(session, cmd, move=True)
