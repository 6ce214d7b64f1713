"""
Authentication: LOGIN, AUTHENTICATE PLAIN (RFC 4616, with SASL-IR), STARTTLS.
"""

from __future__ import annotations

import base64
import binascii

from twisted.cred.error import UnauthorizedLogin

from idlemail.errors import BadRequest, IMAPError
from idlemail.server.registry import ANSWERED, AUTHENTICATED, UNAUTHED, command


async def _login(session, username: str, password: str):
    try:
        account = await session.factory.backend.login(username, password)
    except UnauthorizedLogin as e:
        session.factory.log.info("Login failed for {user!r}", user=username)
        if isinstance(e, IMAPError):
            raise  # a refusal with its own words (the remote backend's upstream answer)
        raise IMAPError("Authentication failed.", "AUTHENTICATIONFAILED")
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
        raise BadRequest(f"{what} is not UTF-8")


@command("LOGIN", UNAUTHED)
async def login(session, cmd):
    args = cmd.args
    return await _login(session, _text(args.username, "User name"),
                        _text(args.password, "Password"))


@command("AUTHENTICATE", UNAUTHED)
async def authenticate(session, cmd):
    mechanism, initial = cmd.args.mechanism, cmd.args.initialResponse
    if mechanism != "PLAIN":
        raise IMAPError(f"Unsupported mechanism {mechanism}", "CANNOT")
    if initial is None:
        response = await session.readContinuation(b"")
    else:
        response = initial
    response = response.strip()
    if response == b"*":
        raise BadRequest("Authentication cancelled")
    try:
        decoded = base64.b64decode(response, validate=True) if response != b"=" else b""
    except (binascii.Error, ValueError):  # 8-bit bytes too
        raise BadRequest("Invalid base64 in PLAIN response")
    parts = decoded.split(b"\0")
    if len(parts) != 3:
        raise BadRequest("PLAIN response must be authzid NUL authcid NUL password")
    authzid, user, password = (_text(p, "PLAIN response") for p in parts)
    if authzid and authzid != user:
        raise IMAPError("Acting as another user is not allowed", "AUTHORIZATIONFAILED")
    return await _login(session, user, password)


@command("STARTTLS", UNAUTHED)
async def starttls(session, cmd):
    tls = session.factory.tlsContext
    if tls is None:
        raise BadRequest("TLS is not configured")
    if session.tlsActive:
        raise BadRequest("TLS is already active")
    session.sendLine(f"{cmd.tag} OK Begin TLS negotiation now".encode())
    # Anything the client sent after STARTTLS in the clear must not be run as if it
    # came over TLS (CVE-2011-0411 class command injection).
    session.clearLineBuffer()
    session._queue.clear()
    session.transport.startTLS(tls)
    session.tlsActive = True
    return ANSWERED
