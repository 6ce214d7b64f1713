"""
Commands valid in any state: CAPABILITY, NOOP, LOGOUT, ID, and NAMESPACE, ENABLE.
"""

from __future__ import annotations

from idlemail import __version__
from idlemail.server.registry import ANY, AUTHED, LOGOUT, command


@command("CAPABILITY", ANY)
async def capability(session, cmd):
    session.untagged(b"CAPABILITY " + session.capabilities())


@command("NOOP", ANY)
async def noop(session, cmd):
    # Pending updates go out after every command; NOOP is the way to ask for them.
    return None


@command("LOGOUT", ANY)
async def logout(session, cmd):
    session.untagged(b"BYE Logging out")
    session.state = LOGOUT


@command("ID", ANY)
async def id_(session, cmd):
    # RFC 2971
    session.untagged(b'ID ("name" "idlemail" "version" "%s")' % __version__.encode())


@command("NAMESPACE", AUTHED)
async def namespace(session, cmd):
    # RFC 2342: one personal namespace, no others.
    delimiter = session.account.delimiter.encode()
    session.untagged(b'NAMESPACE (("" "%s")) NIL NIL' % delimiter)


@command("ENABLE", AUTHED)
async def enable(session, cmd):
    # RFC 5161: we have no extension that needs enabling.
    session.untagged(b"ENABLED")
