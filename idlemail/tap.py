"""
C{twistd idlemail}: options and service assembly. Options only parse; makeService builds
(backend, endpoints, TLS context: every mistake found here is one line before anything
starts); nothing listens, watches, connects or writes until the service starts, and the demo
data is created only once every endpoint listens.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import replace
from pathlib import Path

from twisted.application.service import MultiService
from twisted.logger import Logger
from twisted.python import usage

from idlemail.config import DEFAULT_DATA, Config, ServerConfig, loadConfig
from idlemail.errors import ConfigError
from idlemail.startup import StartupService, exitWithOneLine

log = Logger()


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
        if self["config"]:
            config = loadConfig(self["config"])
        else:
            config = Config("(defaults)", defaultServer())
        if self["listen"]:
            if config.server is None:
                raise ConfigError("--listen: the config has no [server] table to listen for")
            config = replace(config, server=replace(config.server, listen=tuple(self["listen"])))
        return config

    def listenWhere(self) -> str:
        """How a listen string is named in an error: the option or the config key."""
        if self["listen"]:
            return "--listen"
        return f"{self['config']}: server.listen" if self["config"] else "--listen (default)"


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
    try:
        if secret.exists() and passwd.lookup("demo") is not None:
            return secret.read_text().strip()
        data.mkdir(parents=True, exist_ok=True)
        password = demoPassword()
        passwd.setPassword("demo", password)
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        createMaildir(data, "demo")
    except OSError as e:
        raise ConfigError(f"{root}: cannot create the demo data: {e.strerror}") from None
    return password


def buildService(config: Config, listenWhere: str = "server.listen", demo: bool = False,
                 reactor=None, withNotifier: bool = True) -> StartupService:
    """
    Everything C{config} asks for, built but not started: a bad endpoint, backend or TLS
    file raises a one-line L{ConfigError} here. C{demo}: create the demo user once listening.
    The IMAP server (if any) is C{top.server}; with C{workers > 1} that is the
    L{idlemail.workers.WorkerSupervisor} and the workers build their own.
    """
    top = StartupService()
    top.server = None
    metrics = None
    if config.metrics is not None:
        from idlemail.metrics import Metrics
        from idlemail.metricsservice import MetricsService
        metrics = Metrics()
        # First, so that a metrics port in use stops the start before the server's data.
        MetricsService(metrics, config.metrics.listen, f"{config.path}: metrics.listen",
                       reactor).setServiceParent(top)
    if config.server is not None:
        if config.server.workers > 1:
            top.server = _buildSupervisor(config, listenWhere, reactor)
        else:
            top.server = _buildServer(config, listenWhere, metrics, reactor)
        top.server.setServiceParent(top)
        if config.server.listen:  # a worker's sockets are handed to it: the parent says it
            top.whenStarted.append(lambda: _logBanner(config.server, demo))
    if config.notifier is not None and withNotifier:
        from idlemail.notifier.service import NotifierService
        notifier = NotifierService(config.notifier, reactor)
        if metrics is not None:
            notifier.metrics = metrics
        notifier.setServiceParent(top)
    return top


def _buildServer(config: Config, listenWhere: str, metrics, reactor) -> MultiService:
    from idlemail.backends.registry import buildBackend
    from idlemail.bus import buildBus
    from idlemail.server.service import IMAPServerService
    server = config.server
    tls = None
    if server.tlsCertificate:
        from idlemail.server.tls import contextFromFiles
        tls = contextFromFiles(server.tlsCertificate, server.tlsKey, config.path)
    backend = buildBackend(server.backend, server.backendSection, config.path, reactor)
    service = IMAPServerService(
        backend, server.listen, reactor, where=listenWhere, metrics=metrics,
        idleKeepalive=server.idleKeepalive, autologout=server.autologout,
        appendLimit=server.appendLimit, tlsContext=tls, plaintextAuth=server.plaintextAuth,
        trustedNetworks=server.trustedNetworks, maxConnectionsPerIP=server.maxConnectionsPerIP,
        maxUserIPConnections=server.maxUserIPConnections,
        preloginTimeout=server.preloginTimeout, authThreads=server.authThreads,
        authCacheTTL=server.authCacheTTL, specialUse=server.specialUse,
        notifyMaxMailboxes=server.notifyMaxMailboxes)
    # The change bus, started and stopped with the server: the backend publishes every
    # change through it and feeds its trackers from it (a third-party backend without
    # useBus keeps feeding its trackers itself).
    service.bus = buildBus(server.bus.kind, server.bus.endpoint)
    service.bus.setServiceParent(service)
    if hasattr(backend, "useBus"):
        backend.useBus(service.bus)
    return service


def _buildSupervisor(config: Config, listenWhere: str, reactor):
    """The parent of C{workers} processes: everything a worker would refuse is refused
    here first, in one line, before any socket is opened or process started."""
    from idlemail.backends.registry import effectiveSection
    from idlemail.workers import WorkerSupervisor
    server = config.server
    if server.tlsCertificate:
        from idlemail.server.tls import contextFromFiles
        contextFromFiles(server.tlsCertificate, server.tlsKey, config.path)
    effectiveSection(server.backend, server.backendSection, config.path)
    return WorkerSupervisor(config.path, server.listen, server.workers, listenWhere, reactor)


def makeService(options: Options) -> MultiService:
    twistd = getattr(options, "parent", None)  # twistd's own options: pidfile, nodaemon
    try:
        top = buildService(options["parsed"], options.listenWhere(),
                           demo=not options["config"])
    except ConfigError as e:
        sys.stderr.write(f"idlemail: {e}\n")
        raise SystemExit(2)
    top.onFailure = lambda line: exitWithOneLine(line, twistd)
    return top


def _logBanner(server: ServerConfig, demo: bool) -> None:
    text = "idlemail serving IMAP on {listen} ({backend} backend)"
    fields = {"listen": ", ".join(server.listen), "backend": server.backend}
    if server.workers > 1:
        text = "idlemail serving IMAP on {listen} with {workers} workers ({backend} backend)"
        fields["workers"] = server.workers
    if server.backend == "maildir":
        text += ", mail under {root}"
        fields["root"] = server.backendSection.get("root", DEFAULT_DATA)
    password = ensureDemoUser(DEFAULT_DATA) if demo else None
    password = password or server.backendSection.get("users", {}).get("demo")
    if password:
        text += "; log in as user 'demo' with password {password!r}"
        fields["password"] = password
    log.info(text, **fields)


def demoPassword() -> str:
    return secrets.token_urlsafe(9)
