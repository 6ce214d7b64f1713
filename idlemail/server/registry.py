"""
The table of commands: which states allow each, and how its updates may be sent.

Each command module registers its handlers with L{command}; the protocol looks them
up by name. A handler is C{async def handler(session, cmd)}: it writes untagged
responses with C{session.untagged()}, and returns the tagged OK's text (optionally
with a response code as C{(code, text)}), or raises L{CommandFailed}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

NOT_AUTHENTICATED = "not authenticated"
AUTHENTICATED = "authenticated"
SELECTED = "selected"
LOGOUT = "logout"

ANY = frozenset({NOT_AUTHENTICATED, AUTHENTICATED, SELECTED})
AUTHED = frozenset({AUTHENTICATED, SELECTED})
ONLY_SELECTED = frozenset({SELECTED})
UNAUTHED = frozenset({NOT_AUTHENTICATED})


#: A handler returns this when it has sent its tagged response itself (STARTTLS).
ANSWERED = object()


class CommandFailed(Exception):
    """
    End the command with a tagged C{status} (C{"NO"} or C{"BAD"}).
    """

    def __init__(self, text: str, status: str = "NO", code: str | None = None):
        super().__init__(text)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Handler:
    name: str
    states: frozenset
    run: Callable[..., Awaitable]
    # RFC 3501 7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the UID
    # forms may report them).
    expungesAfter: bool = True


_HANDLERS: dict[str, Handler] = {}


def command(name: str, states: frozenset, expungesAfter: bool = True):
    def register(fn):
        _HANDLERS[name] = Handler(name, states, fn, expungesAfter)
        return fn
    return register


def lookup(name: str) -> Handler | None:
    if not _HANDLERS:
        _loadAll()
    return _HANDLERS.get(name)


def _loadAll() -> None:
    # Importing the command modules registers their handlers.
    from idlemail.server import (  # noqa: F401
        auth,
        fetch,
        idle,
        mailboxes,
        messages,
        search,
        selection,
        session_commands,
    )
