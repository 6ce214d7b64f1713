"""
IDLE (RFC 2177): the command in progress that makes pushing legal.

Pending updates go out at once when it starts and the moment a change is published
(the tracker calls the session's C{wake}). Only C{DONE}, in any case, ends it with
a tagged OK; any other line ends it with a tagged BAD and is then run as a command,
so that a pipelined command is never swallowed.
"""

from __future__ import annotations

from idlemail.server.registry import ANSWERED, AUTHED, command


@command("IDLE", AUTHED)
async def idle(session, cmd):
    # The protocol answers DONE (or anything else) itself: see IMAPServerProtocol.startIdle.
    session.startIdle(cmd.tag)
    return ANSWERED
