"""
Opening a session on a mail server the way the config says: connect (TLS verified unless
told otherwise), greeting, CAPABILITY, STARTTLS if asked, the password (which may come from
a command, so it is awaited), and LOGIN / AUTHENTICATE PLAIN / XOAUTH2. The one copy used
by the watcher and by C{idlemail doctor}.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory

from idlemail.client.endpoints import clientEndpoint, tlsOptions
from idlemail.client.failures import AuthenticationFailed, ConnectionDead
from idlemail.client.protocol import IMAPClientProtocol, IMAPCommandError

# RFC 5530 codes that mean "the server's trouble, try later", not "wrong password".
TEMPORARY_CODES = ("UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE", "EXPUNGEISSUED")


def endpointFor(reactor, settings):
    return clientEndpoint(reactor, settings.server, caFile=settings.caFile,
                          insecure=settings.insecureSkipVerify)


def deadline(d: defer.Deferred, seconds: float, clock) -> defer.Deferred:
    return d.addTimeout(seconds, clock)


async def password(settings, clock, timeout: float):
    """The password (or token): a value, or what a callable gives (maybe a Deferred)."""
    value = settings.password
    if callable(value):
        value = await deadline(defer.maybeDeferred(value), timeout, clock)
    return value


def _noStep(step: str, **info) -> None:
    pass


async def openSession(proto: IMAPClientProtocol, settings, clock, timeout: float,
                      onStep=_noStep) -> frozenset:
    """
    On a connected C{proto}: greeting, CAPABILITY, STARTTLS (if C{settings.starttls}),
    authentication. Returns the capabilities after login. Calls C{onStep("connected",
    secure=..., capabilities=...)} once the channel is ready and C{onStep("authenticating")}
    before the credentials go out. Raises L{AuthenticationFailed} for a refusal,
    L{ConnectionDead} for a temporary one or a missing STARTTLS.
    """
    await deadline(proto.greeted, timeout, clock)
    caps = await deadline(proto.capability(), timeout, clock)
    if settings.starttls:
        if "STARTTLS" not in caps:
            raise ConnectionDead(f"{settings.address} does not offer STARTTLS")
        host = settings.address.rpartition(":")[0]
        await deadline(proto.starttls(tlsOptions(host, settings.caFile,
                                                 settings.insecureSkipVerify)), timeout, clock)
        caps = await deadline(proto.capability(), timeout, clock)
    secure = settings.starttls or ISSLTransport.providedBy(proto.transport)
    onStep("connected", secure=secure, capabilities=caps)
    secret = await password(settings, clock, timeout)
    onStep("authenticating")
    user = settings.username
    try:
        if settings.auth == "plain":
            await deadline(proto.authenticatePlain(user, secret), timeout, clock)
        elif settings.auth == "xoauth2":
            await deadline(proto.authenticateXOAUTH2(user, secret), timeout, clock)
        else:
            await deadline(proto.login(user, secret), timeout, clock)
    except IMAPCommandError as e:
        code = (e.tagged.code or ("",))[0]
        if code in TEMPORARY_CODES:
            raise ConnectionDead(f"{settings.address} refused the login for now [{code}]: "
                                 f"{e.tagged.text}")
        refused = AuthenticationFailed(f"{e.tagged.text or 'refused'} (as {user!r})")
        refused.serverText = e.tagged.text  # the server's own words, for a proxy to repeat
        raise refused
    return await deadline(proto.capability(), timeout, clock)


async def connectAndLogin(reactor, settings, timeout: float, onStep=_noStep,
                          protocolFactory=None) -> IMAPClientProtocol:
    """Connect to C{settings.server} and L{openSession}; the connection is closed on failure."""
    factory = protocolFactory or Factory.forProtocol(
        lambda: IMAPClientProtocol(settings.maxLiteralSize))
    factory.noisy = False  # no "Starting factory <...0x7f...>" line per connection
    proto = await deadline(endpointFor(reactor, settings).connect(factory), timeout, reactor)
    try:
        await openSession(proto, settings, reactor, timeout, onStep)
    except BaseException:
        if proto.transport is not None:
            proto.transport.abortConnection()
        raise
    return proto
