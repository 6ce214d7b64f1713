"""
Every command the server knows: importing the command family modules registers their
handlers (L{idlemail.server.registry.command}); the protocol looks them up here.
"""

from __future__ import annotations

from idlemail.server import (  # noqa: F401  imported for their registrations
    appending,
    auth,
    fetch,
    idle,
    listing,
    mailboxes,
    messages,
    notify,
    search,
    selection,
    session_commands,
    sort,
    thread,
)
from idlemail.server.registry import HANDLERS, Handler


def lookup(name: str) -> Handler | None:
    return HANDLERS.get(name)
