"""
THREAD and UID THREAD (RFC 5256 4): ORDEREDSUBJECT and REFERENCES over the messages SEARCH
would find. Header fields come from the structure cache or are read in slices
(L{idlemail.server.sortfields}); the linking of REFERENCES, message by message, is sliced too.
"""

from __future__ import annotations

from idlemail.server.registry import ONLY_SELECTED, command
from idlemail.server.slices import Slices
from idlemail.server.sort import searchedFields, sentTime
from idlemail.server.threadtree import ReferencesThreader, orderedSubject, threadList


@command("THREAD", ONLY_SELECTED, expungesAfter=False)
async def thread(session, cmd):
    args = cmd.args
    uids, fields, infos = await searchedFields(session, args)
    view = session.view
    messages = []
    for uid in uids:
        number = uid if cmd.uid else view.seqOf(uid)
        if number is not None and uid in fields and uid in infos:
            # Equal dates keep mailbox order (RFC 5256 2.2): UIDs ascend as numbers do.
            messages.append((number, (sentTime(fields[uid], infos[uid]), uid), fields[uid]))
    if args.algorithm == "ORDEREDSUBJECT":
        roots = orderedSubject([(n, date, f.subject) for n, date, f in messages])
    else:
        threader = ReferencesThreader()
        slices = Slices(session)
        for number, date, f in messages:
            if slices.due():
                await slices.pause()
            threader.add(number, date, f.subject, f.subjectIsReply, f.messageId, f.references)
        roots = threader.threads()
    session.untagged(b"THREAD " + threadList(roots) if roots else b"THREAD")
    return None
