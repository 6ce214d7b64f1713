"""
Authentication: LOGIN, AUTHENTICATE PLAIN (RFC 4616, with SASL-IR), STARTTLS.
"""

from __future__ import annotations

import base64
import binascii

from twisted.cred.error import UnauthorizedLogin

from idlemail.server.registry import (
    ANSWERED,
    AUTHENTICATED,
    UNAUTHED,
    CommandFailed,
    command,
)


async def _login(session, username: str, password: str):
    try:
        account = await session.factory.backend.login(username, password)
    except UnauthorizedLogin:
        session.factory.log.info("Login failed for {user!r}", user=username)
        raise CommandFailed("Authentication failed.", "NO", "AUTHENTICATIONFAILED")
    if session.state != "not authenticated":  # the connection went away meanwhile
        account.logout()
        return None
    session.account = account
    session.state = AUTHENTICATED
    return ("CAPABILITY " + session.capabilities().decode(), "Logged in")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandFailed(f"{what} is not UTF-8", "BAD")


@command("LOGIN", UNAUTHED)
async def login(session, cmd):
    user, password = cmd.args
    return await _login(session, _text(user, "User name"), _text(password, "Password"))


@command("AUTHENTICATE", UNAUTHED)
async def authenticate(session, cmd):
    mechanism, initial = cmd.args
    if mechanism != "PLAIN":
        raise CommandFailed(f"Unsupported mechanism {mechanism}", "NO", "CANNOT")
    if initial is None:
        response = await session.readContinuation(b"")
    else:
        response = initial.encode("ascii")
    response = response.strip()
    if response == b"*":
        raise CommandFailed("Authentication cancelled", "BAD")
    try:
        decoded = base64.b64decode(response, validate=True) if response != b"=" else b""
    except (binascii.Error, ValueError):
        raise CommandFailed("Invalid base64 in PLAIN response", "BAD")
    parts = decoded.split(b"\0")
    if len(parts) != 3:
        raise CommandFailed("PLAIN response must be authzid NUL authcid NUL password", "BAD")
    authzid, user, password = (_text(p, "PLAIN response") for p in parts)
    if authzid and authzid != user:
        raise CommandFailed("Acting as another user is not allowed", "NO", "AUTHORIZATIONFAILED")
    return await _login(session, user, password)


@command("STARTTLS", UNAUTHED)
async def starttls(session, cmd):
    tls = session.factory.tlsContext
    if tls is None:
        raise CommandFailed("TLS is not configured", "BAD")
    if session.tlsActive:
        raise CommandFailed("TLS is already active", "BAD")
    session.sendLine(f"{cmd.tag} OK Begin TLS negotiation now".encode())
    # Anything the client sent after STARTTLS in the clear must not be run as if it
    # came over TLS (CVE-2011-0411 class command injection).
    session.clearLineBuffer()
    session._queue.clear()
    session.transport.startTLS(tls)
    session.tlsActive = True
    return ANSWERED
