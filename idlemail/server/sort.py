"""
SORT and UID SORT (RFC 5256 3), with SORT=DISPLAY's DISPLAYFROM and DISPLAYTO (RFC 5957)
and ESORT's result options (RFC 5267 3).

The messages are those SEARCH would find; their header fields come from the structure cache
or are read in slices (L{idlemail.server.sortfields}). Messages equal by every key stay in
mailbox order (RFC 5256 3: the sequence number breaks ties).
"""

from __future__ import annotations

from idlemail.server.esearch import answerSort
from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.search import foundModseqs, searchUids
from idlemail.server.sortfields import sortFields


def sentTime(fields, info) -> float:
    """RFC 5256 2.2: the Date field, or the internal date when it has none or a bad one."""
    if fields.sent is not None:
        return fields.sent
    return info.internaldate.timestamp()


_KEYS = {
    "ARRIVAL": lambda f, i: i.internaldate.timestamp(),
    "CC": lambda f, i: f.ccKey,
    "DATE": sentTime,
    "FROM": lambda f, i: f.fromKey,
    "SIZE": lambda f, i: i.size,
    "SUBJECT": lambda f, i: f.subject,
    "TO": lambda f, i: f.toKey,
    "DISPLAYFROM": lambda f, i: f.displayFrom,
    "DISPLAYTO": lambda f, i: f.displayTo,
}


def sortUids(uids, criteria, fields, infos) -> list[int]:
    """C{uids} (ascending) in the order of C{criteria}; the last key is sorted first, so
    that Python's stable sort leaves earlier keys deciding, and mailbox order last."""
    ordered = [u for u in uids if u in fields and u in infos]
    for criterion in reversed(criteria):
        key = _KEYS[criterion.key]
        ordered.sort(key=lambda u: key(fields[u], infos[u]), reverse=criterion.reverse)
    return ordered


async def searchedFields(session, args):
    """The UIDs SORT's or THREAD's search keys find, with their header fields and infos."""
    uids = await searchUids(session, args.charset, args.search)
    fields = await sortFields(session, uids)
    infos = {i.uid: i for i in await session.mailbox.messages(uids)} if uids else {}
    return uids, fields, infos


@command("SORT", ONLY_SELECTED, expungesAfter=False)
async def sort(session, cmd):
    uids, fields, infos = await searchedFields(session, cmd.args)
    answerSort(session, cmd, sortUids(uids, cmd.args.criteria, fields, infos),
               await foundModseqs(session, cmd.args.search, uids))
    return None
