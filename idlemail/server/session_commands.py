"""
Commands valid in any state: CAPABILITY, NOOP, LOGOUT, ID, and NAMESPACE, ENABLE.
"""

from __future__ import annotations

from idlemail import __version__
from idlemail.server import condstore
from idlemail.server.registry import ANY, AUTHED, LOGOUT, command
from idlemail.server.selection import catchUp


@command("CAPABILITY", ANY)
async def capability(session, cmd):
    session.untagged(b"CAPABILITY " + session.capabilities())


@command("NOOP", ANY)
async def noop(session, cmd):
    # Pending updates go out after every command; NOOP is the way to ask for them.
    await catchUp(session)
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
    # RFC 5161: ENABLED lists what this command turned on; what we have not is ignored.
    wanted = [c for c in dict.fromkeys(cmd.args.capabilities) if c in _ENABLES]
    if wanted and not condstore.offered(session):
        wanted = []
    enabled = []
    for name in wanted:
        if name == "QRESYNC" and session.qresync:
            continue
        if name == "CONDSTORE" and session.condstore:
            continue
        enabled.append(name)
    session.untagged(b" ".join([b"ENABLED"] + [n.encode() for n in enabled]))
    if enabled:
        # RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
        condstore.enable(session, qresync="QRESYNC" in enabled)


_ENABLES = ("CONDSTORE", "QRESYNC")
