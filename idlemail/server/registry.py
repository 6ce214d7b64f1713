"""
Registering command handlers: the protocol states, and the table each command family
module adds its handlers to with L{command}. The families are imported (and so
registered) by L{idlemail.server.commands}; nothing here imports them.

A handler is C{async def handler(session, cmd)}: it writes untagged responses with
C{session.untagged()}, and returns the tagged OK's text (optionally with a response
code as C{(code, text)}), or raises L{idlemail.errors.IMAPError} for a NO or BAD.
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


@dataclass(frozen=True, slots=True)
class Handler:
    name: str
    states: frozenset
    run: Callable[..., Awaitable]
    # RFC 3501 7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the UID
    # forms may report them).
    expungesAfter: bool = True


HANDLERS: dict[str, Handler] = {}


def command(name: str, states: frozenset, expungesAfter: bool = True):
    def register(fn):
        HANDLERS[name] = Handler(name, states, fn, expungesAfter)
        return fn
    return register
