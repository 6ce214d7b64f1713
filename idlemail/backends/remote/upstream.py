"""
Opening an upstream session as a user (the client side's own login code), and what an
upstream failure means to a local client: the upstream's refusal in its own words, or
C{NO [UNAVAILABLE]} with a line saying why the upstream cannot be reached.
"""

from __future__ import annotations

from twisted.cred.error import UnauthorizedLogin
from twisted.internet.protocol import Factory

from idlemail.client.failures import AuthenticationFailed, describe
from idlemail.client.login import connectAndLogin
from idlemail.client.protocol import IMAPClientProtocol, IMAPCommandError
from idlemail.errors import IMAPError, MailboxExists, NoSuchMailbox


class LoginRefused(UnauthorizedLogin, IMAPError):
    """The upstream refused the credentials; C{str()} is its answer, for the local NO."""

    def __init__(self, text: str):
        IMAPError.__init__(self, text, "AUTHENTICATIONFAILED")


class UpstreamProtocol(IMAPClientProtocol):
    """An upstream connection that says when it closes (for the pool and the watch)."""

    def __init__(self, maxLiteralSize: int):
        super().__init__(maxLiteralSize)
        self.lost = False
        self.lostHooks: list = []

    def connectionLost(self, reason=None):
        self.lost = True
        try:
            super().connectionLost(reason)
        finally:
            hooks, self.lostHooks = self.lostHooks, []
            for hook in hooks:
                hook(self)

    def close(self) -> None:
        """Drop the connection at once (its state is unknown or no longer wanted)."""
        if self.transport is not None and not self.lost:
            self.transport.abortConnection()

    def logoutAndClose(self) -> None:
        """Say LOGOUT and close without waiting for the answer."""
        if self.transport is None or self.lost:
            return
        try:
            self.logout().addErrback(lambda f: None)
        except Exception:
            pass
        self.transport.loseConnection()


def protocolFactory(settings) -> Factory:
    factory = Factory.forProtocol(lambda: UpstreamProtocol(settings.maxLiteralSize))
    factory.noisy = False
    return factory


async def login(reactor, settings, username: str, password: str) -> UpstreamProtocol:
    """
    A logged-in upstream connection as C{username}. Fails with L{LoginRefused} when the
    upstream refuses the credentials, with C{NO [UNAVAILABLE]} when it cannot be reached.
    """
    login = settings.login(username, password)
    try:
        return await connectAndLogin(reactor, login, settings.commandTimeout,
                                     protocolFactory=protocolFactory(settings))
    except AuthenticationFailed as e:
        raise LoginRefused(e.serverText or "Authentication failed.")
    except Exception as e:
        raise unavailable(e, settings)


def unavailable(reason, settings) -> IMAPError:
    """C{NO [UNAVAILABLE]} for an upstream that cannot be reached or stopped answering."""
    if isinstance(reason, IMAPError):
        return reason
    if isinstance(reason, AuthenticationFailed):
        why = f"{settings.address} no longer accepts the login: {reason}"
    else:
        why = describe(reason, settings.address)
    return IMAPError(f"The upstream server is unavailable ({why}); try again later",
                     "UNAVAILABLE")


# Refusals that have their own class locally (callers catch NoSuchMailbox for TRYCREATE).
_BY_CODE = {"ALREADYEXISTS": MailboxExists, "NONEXISTENT": NoSuchMailbox}


def refusal(error: IMAPCommandError) -> IMAPError:
    """The upstream's NO (or BAD) for a command, in its own words and response code."""
    tagged = error.tagged
    code = tagged.code[0] if tagged.code else None
    text = tagged.text or f"The upstream server said {tagged.status}"
    kind = _BY_CODE.get(code)
    if kind is None:
        return IMAPError(text, code)
    refused = kind.__new__(kind)  # the local class, with the upstream's words
    IMAPError.__init__(refused, text, code)
    return refused


def noSuchMailbox(error: IMAPCommandError, name: str) -> IMAPError:
    """A refused SELECT: the mailbox is not there (NONEXISTENT, or no code), or why not."""
    code = error.tagged.code[0] if error.tagged.code else None
    if code in (None, "NONEXISTENT", "TRYCREATE"):
        return NoSuchMailbox(name)
    return refusal(error)
