"""
Changing messages of the selected mailbox: STORE, COPY, MOVE (RFC 6851), and their
UID forms (RFC 3501 6.4.6-6.4.8, RFC 4315 COPYUID).
"""

from __future__ import annotations

from idlemail.errors import IMAPError, NoSuchMailbox
from idlemail.records import RECENT
from idlemail.server.names import decodeName
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.responses import fetchFlags
from idlemail.server.selection import requireWritable
from idlemail.server.sequences import resolveUids


def compactSet(numbers) -> str:
    """C{[1, 2, 3, 7]} -> C{"1:3,7"} (RFC 4315 uid-set); in the order given, joining only
    runs that ascend by one."""
    out = []
    numbers = list(numbers)
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(str(numbers[i]) if i == j else f"{numbers[i]}:{numbers[j]}")
        i = j + 1
    return ",".join(out)


@command("STORE", ONLY_SELECTED, expungesAfter=False)
async def store(session, cmd):
    args = cmd.args
    requireWritable(session)
    view = session.view
    uids = resolveUids(session, args.sequenceSet, cmd.uid)
    # \Recent is the server's to set (RFC 3501 2.3.2).
    flags = [f for f in args.flags if f != RECENT]
    if not uids:
        return None
    result = await session.mailbox.store(uids, flags, args.mode, origin=view)
    session.announceKeywords()  # before any FETCH that shows a new one
    if not args.silent:
        # Tell every stored message's flags, changed or not; the tracker's copy of
        # our own change is then dropped (ownFlags=False after STORE).
        for uid in uids:
            seq = view.seqOf(uid)
            if uid in result and seq is not None:
                session.untagged(fetchFlags(seq, result[uid], uid in view.recent,
                                            uid if cmd.uid else None))
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
