"""
C{twistd idlemail}: options and service assembly. Wiring only: nothing listens,
watches or connects until the service starts.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from twisted.application.service import MultiService
from twisted.python import usage

from idlemail.config import DEFAULT_DATA, Config, ServerConfig, loadConfig
from idlemail.errors import ConfigError


class Options(usage.Options):
    synopsis = "[--config FILE] [--listen ENDPOINT ...]"
    longdesc = ("Serve IMAP4 with IDLE push and/or relay mailbox events, as the config "
                "file says. With no config: an IMAP server on 127.0.0.1:1143 over the "
                "Maildir tree in ./idlemail-data.")
    optParameters = [["config", "c", None, "TOML config file"]]

    def __init__(self):
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint: str) -> None:
        """Listen on a Twisted endpoint string, e.g. tcp:1143:interface=127.0.0.1 (repeatable)."""
        self["listen"].append(endpoint)

    opt_l = opt_listen

    def parseOptions(self, options=None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            sys.stderr.write(f"idlemail: {e} (see: twistd idlemail --help)\n")
            raise SystemExit(2)

    def postOptions(self) -> None:
        try:
            self["parsed"] = self._load()
        except ConfigError as e:
            # One line, no usage dump, no traceback.
            sys.stderr.write(f"idlemail: {e}\n")
            raise SystemExit(2)

    def _load(self) -> Config:
        self["demo"] = None
        if self["config"]:
            config = loadConfig(self["config"])
        else:
            config = Config("(defaults)", defaultServer())
            try:
                self["demo"] = ensureDemoUser(DEFAULT_DATA)
            except OSError as e:
                raise ConfigError(f"{DEFAULT_DATA}: cannot create the data directory: "
                                  f"{e.strerror}")
        if self["listen"]:
            if config.server is None:
                raise ConfigError("--listen: the config has no [server] table to listen for")
            config = Config(config.path, _replace(config.server, listen=tuple(self["listen"])),
                            config.notifier)
        if config.server is not None:
            checkEndpoints(config.server.listen, "--listen" if self["listen"]
                           else f"{config.path}: server.listen")
            from idlemail.backends.registry import buildBackend
            self["backend"] = buildBackend(config.server.backend, config.server.backendSection,
                                           config.path, reactor=None)
        return config


def checkEndpoints(descriptions, where: str) -> None:
    """Parse each endpoint string now, so a typo is one line, not a traceback later."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString
    for description in descriptions:
        try:
            serverFromString(reactor, description)
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"{where}: {description!r} is not a server endpoint ({e}); "
                              f"use e.g. \"tcp:1143:interface=127.0.0.1\"")


def defaultServer() -> ServerConfig:
    """No config: the embedded Maildir server under ./idlemail-data, with a demo user."""
    return ServerConfig(backend="maildir", backendSection={"root": DEFAULT_DATA})


def ensureDemoUser(root: str) -> str:
    """
    On first run, create the data directory with a user C{demo} whose password is kept in
    C{<root>/demo-password} (so the log can say it every time); return that password.
    """
    from idlemail.backends.maildir.backend import createMaildir
    from idlemail.passwd import PasswdFile
    data = Path(root)
    secret = data / "demo-password"
    passwd = PasswdFile(data / "passwd")
    if secret.exists() and passwd.lookup("demo") is not None:
        return secret.read_text().strip()
    data.mkdir(parents=True, exist_ok=True)
    password = demoPassword()
    passwd.setPassword("demo", password)
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    createMaildir(data, "demo")
    return password


def _replace(server: ServerConfig, **changes) -> ServerConfig:
    from dataclasses import replace
    return replace(server, **changes)


def makeService(options: Options) -> MultiService:
    config: Config = options["parsed"]
    top = MultiService()
    if config.server is not None:
        from idlemail.server.service import IMAPServerService
        backend = options["backend"]
        server = config.server
        tls = None
        if server.tlsCertificate:
            from idlemail.server.tls import contextFromFiles
            tls = contextFromFiles(server.tlsCertificate, server.tlsKey)
        IMAPServerService(
            backend, server.listen, banner=_banner(backend, server, options["demo"]),
            idleKeepalive=server.idleKeepalive, autologout=server.autologout,
            appendLimit=server.appendLimit, tlsContext=tls,
        ).setServiceParent(top)
    if config.notifier is not None:
        from idlemail.notifier.service import NotifierService
        NotifierService(config.notifier).setServiceParent(top)
    return top


def _banner(backend, server: ServerConfig, demo: str | None = None) -> str:
    where = ", ".join(server.listen)
    text = f"idlemail serving IMAP on {where} ({server.backend} backend)"
    if server.backend == "maildir":
        text += f", mail under {server.backendSection.get('root', DEFAULT_DATA)}"
    demo = demo or server.backendSection.get("users", {}).get("demo")
    if demo:
        text += f"; log in as user 'demo' with password {demo!r}"
    return text


def demoPassword() -> str:
    return secrets.token_urlsafe(9)
