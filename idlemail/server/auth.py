"""
Authentication: LOGIN, AUTHENTICATE PLAIN (RFC 4616, with SASL-IR), STARTTLS.

A password is taken only where the TLS policy allows ([server] plaintext_auth; else
NO [PRIVACYREQUIRED] before any password is sent). It is checked through the server's
credentials cache, off the reactor thread. A failed login is answered after a delay that
grows per remote address (the reactor goes on meanwhile), and after a few on one
connection the server says BYE. Each outcome is one log line (L{sessionlog}).
"""

from __future__ import annotations

import base64
import binascii

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import task
from twisted.internet.error import ConnectionDone

from idlemail.errors import BadRequest, IMAPError
from idlemail.server import sessionlog
from idlemail.server.registry import ANSWERED, LOGOUT, NOT_AUTHENTICATED, UNAUTHED, command


def _requirePrivacy(session) -> None:
    if not session.factory.plaintextAllowed(session):
        raise IMAPError("Plaintext authentication is disabled without TLS",
                        "PRIVACYREQUIRED")


async def _login(session, username: str, password: str, method: str):
    factory = session.factory
    try:
        account = await factory.credentials.login(username, password)
    except UnauthorizedLogin as e:
        await _failed(session, username, method, e)
    if session.state != NOT_AUTHENTICATED:  # the connection went away meanwhile
        account.logout()
        return None
    host = session.peer[0]
    if not factory.limits.addUser(username, host):
        account.logout()
        sessionlog.loginRefused(session, username, method, "too many connections")
        raise IMAPError("Too many connections for this user from your address", "LIMIT")
    factory.limits.succeeded(host)
    factory.metrics.login(True)
    session.loggedIn(account, username, method)
    return ("CAPABILITY " + session.capabilities().decode(), "Logged in")


async def _failed(session, username: str, method: str, error: UnauthorizedLogin):
    """Log, wait (without blocking the reactor), then refuse; BYE after too many."""
    factory = session.factory
    session.authFailures += 1
    factory.metrics.login(False)
    sessionlog.loginFailed(session, username, method, "bad credentials")
    delay = factory.limits.failed(session.peer[0])
    if delay > 0:
        await task.deferLater(factory.clock, delay)
    if session.state == LOGOUT:
        raise ConnectionDone("the client went away during the failure delay")
    if session.authFailures >= factory.maxAuthFailures:
        session.untagged(b"BYE Too many failed logins")
        session.state = LOGOUT  # the NO below is the last thing said
    if isinstance(error, IMAPError):
        raise error  # a refusal in its own words (the remote backend's upstream answer)
    raise IMAPError("Authentication failed.", "AUTHENTICATIONFAILED")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not UTF-8")


@command("LOGIN", UNAUTHED)
async def login(session, cmd):
    args = cmd.args
    _requirePrivacy(session)
    return await _login(session, _text(args.username, "User name"),
                        _text(args.password, "Password"), "LOGIN")


@command("AUTHENTICATE", UNAUTHED)
async def authenticate(session, cmd):
    mechanism, initial = cmd.args.mechanism, cmd.args.initialResponse
    if mechanism != "PLAIN":
        raise IMAPError(f"Unsupported mechanism {mechanism}", "CANNOT")
    _requirePrivacy(session)  # before the client sends its password
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
    return await _login(session, user, password, "PLAIN")


@command("STARTTLS", UNAUTHED)
async def starttls(session, cmd):
    tls = session.factory.tlsContext
    if tls is None:
        raise BadRequest("TLS is not configured")
    if session.tlsActive:
        raise BadRequest("TLS is already active")
    session.factory.metrics.command("STARTTLS", "OK")
    session.sendLine(f"{cmd.tag} OK Begin TLS negotiation now".encode())
    session.flushOutput()  # in the clear, before the handshake
    # Anything the client sent after STARTTLS in the clear must not be run as if it
    # came over TLS (CVE-2011-0411 class command injection).
    session.discardInput()
    session.transport.startTLS(tls)
    session.tlsActive = True
    return ANSWERED
