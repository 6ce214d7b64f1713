"""
Why a connection to a mail server failed, in one line a user can act on
(C{connection refused by imap.example.org:993}, C{TLS certificate not trusted: ...}),
rather than the text of whatever exception Twisted or OpenSSL raised.
"""

from __future__ import annotations

from twisted.internet import defer, error
from twisted.python.failure import Failure

from idlemail.client.framing import ResponseTooLarge
from idlemail.errors import ConfigError


class AuthenticationFailed(Exception):
    """The server refused the credentials (not a temporary refusal). C{serverText} is
    the text of the server's NO, when it said one."""

    serverText: str | None = None


class ConnectionDead(Exception):
    """The session cannot go on; C{str()} says why in the words of L{describe}."""


_TIMEOUTS = (defer.TimeoutError, defer.CancelledError, error.TimeoutError, TimeoutError,
             error.ConnectingCancelledError)  # what a cancelled connect (our deadline) raises
_CLOSED = (error.ConnectionDone, error.ConnectionLost, error.ConnectionAborted)


def _tlsText(e) -> str | None:
    """OpenSSL's and service_identity's errors as text, or None if it is not TLS."""
    module = type(e).__module__ or ""
    if module.startswith("OpenSSL"):
        reasons = [part for args in getattr(e, "args", ()) for part in
                   (args if isinstance(args, list) else [args])]
        texts = [r[2] if isinstance(r, tuple) and len(r) > 2 else str(r) for r in reasons]
        return "; ".join(t for t in texts if t) or str(e)
    if module.startswith("service_identity"):
        return str(e)
    return None


def describe(reason, where: str, connecting: bool = False) -> str:
    """
    One line for a failure (an exception or a L{Failure}) talking to C{where}
    (C{host:port}); C{connecting} says whether a session had been opened yet.
    """
    e = reason.value if isinstance(reason, Failure) else reason
    while isinstance(e, defer.FirstError):
        e = e.subFailure.value
    if isinstance(e, (AuthenticationFailed,)):
        return f"authentication failed: {e}"
    if isinstance(e, (ConnectionDead, ResponseTooLarge, ConfigError)):
        return str(e)
    if isinstance(e, error.ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(e, error.DNSLookupError):
        return f"cannot resolve the host of {where}"
    if isinstance(e, _TIMEOUTS):
        return (f"timed out connecting to {where}" if connecting
                else f"timed out waiting for {where} to answer")
    tls = _tlsText(e)
    if tls is not None:
        if "certificate verify failed" in tls or "VerificationError" in type(e).__name__:
            return f"TLS certificate not trusted: {tls} ({where})"
        return f"TLS failed with {where}: {tls}"
    if isinstance(e, _CLOSED):
        return f"connection closed by {where}"
    if isinstance(e, (error.ConnectError, OSError)):
        return f"cannot connect to {where}: {e}"
    return f"{e.__class__.__name__}: {e}"
