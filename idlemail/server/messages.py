"""
Changing messages of the selected mailbox: STORE, COPY, MOVE (RFC 6851), and their
UID forms (RFC 3501 6.4.6-6.4.8, RFC 4315 COPYUID).
"""

from __future__ import annotations

from idlemail.errors import NoSuchMailbox
from idlemail.server.names import decodeName, resolveUids
from idlemail.server.registry import ONLY_SELECTED, CommandFailed, command
from idlemail.server.selection import requireWritable
from idlemail.wire.encode import flagList


def compactSet(numbers) -> str:
    """C{[1, 2, 3, 7]} -> C{"1:3,7"} (RFC 4315 uid-set)."""
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
    seqset, mode, silent, flags = cmd.args
    requireWritable(session)
    view = session.view
    uids = resolveUids(session, seqset, cmd.uid)
    # \Recent is the server's to set (RFC 3501 2.3.2).
    flags = [f for f in flags if f.lower() != "\\recent"]
    if not uids:
        return None
    result = await session.mailbox.store(uids, flags, mode, origin=view)
    if not silent:
        # Tell every stored message's flags, changed or not; the tracker's copy of
        # our own change is then dropped (ownFlags=False after STORE).
        for uid in uids:
            seq = view.seqOf(uid)
            if uid in result and seq is not None:
                newFlags = result[uid] | {"\\Recent"} if uid in view.recent else result[uid]
                extra = b" UID %d" % uid if cmd.uid else b""
                session.untagged(b"%d FETCH (FLAGS %s%s)" % (seq, flagList(newFlags), extra))
    if len(result) < len(uids):
        return ("EXPUNGEISSUED", "Some of the messages were expunged")
    return None


async def _copy(session, cmd, move: bool):
    seqset, raw = cmd.args
    if move:
        requireWritable(session)
    destination = decodeName(raw, session.account.delimiter)
    uids = resolveUids(session, seqset, cmd.uid)
    if not uids:
        return None
    try:
        validity, pairs = await session.mailbox.copy(uids, destination, move,
                                                     origin=session.view)
    except NoSuchMailbox:
        raise CommandFailed(f"Mailbox doesn't exist: {destination}", "NO", "TRYCREATE")
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
