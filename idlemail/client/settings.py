"""
What a watcher (or C{idlemail doctor}) needs to know of one account and mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.client.protocol import DEFAULT_MAX_LITERAL


@dataclass(frozen=True)
class WatchSettings:
    """Built from the notifier config by L{idlemail.notifier.service.watchSettings}."""

    account: str
    server: str  # a Twisted client endpoint string: tls:host:993, tcp:host:143
    username: str
    password: object  # a str, or a callable returning a str or a Deferred of one
    mailbox: str = "INBOX"
    auth: str = "login"  # login | plain | xoauth2
    starttls: bool = False
    plaintext: bool = False
    caFile: str | None = None
    insecureSkipVerify: bool = False
    readonly: bool = True
    reidle: float = 600.0
    keepaliveTimeout: float = 300.0
    commandTimeout: float = 60.0
    pollInterval: float = 60.0
    backoffInitial: float = 1.0
    backoffMax: float = 300.0
    authRetry: float = 300.0
    downAfter: float = 300.0  # account.down once the mailbox has been unreachable this long
    maxLiteralSize: int = DEFAULT_MAX_LITERAL
    wantsHeaders: bool = True

    @property
    def address(self) -> str:
        """C{host:port} of C{server}, for messages."""
        return serverAddress(self.server)


def serverAddress(server: str) -> str:
    kind, _, rest = server.partition(":")
    if kind in ("tls", "ssl", "tcp"):
        positional = [p for p in rest.split(":") if "=" not in p]
        named = dict(p.split("=", 1) for p in rest.split(":") if "=" in p)
        host = named.get("host", positional[0] if positional else "?")
        port = named.get("port", positional[1] if len(positional) > 1 else "?")
        return f"{host}:{port}"
    return server
