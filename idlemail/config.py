"""
The config file (TOML) -> frozen dataclasses. Every error is a L{ConfigError} whose
text is one line naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from idlemail.errors import ConfigError
# Re-exported: code written before idlemail.settings imports them from here.
from idlemail.settings import DEFAULT_DATA, Table, parseDuration, parseSize  # noqa: F401  DEFAULT_DATA re-exported

__all__ = ["Config", "ServerConfig", "BusConfig", "MetricsConfig", "loadConfig", "parseConfig",
           "Table", "parseDuration", "parseSize", "DEFAULT_LISTEN", "DEFAULT_DATA"]

DEFAULT_LISTEN = ("tcp:1143:interface=127.0.0.1",)
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1")
MAX_WORKERS = 256
BUS_KINDS = ("local", "redis")


@dataclass(frozen=True)
class BusConfig:
    """C{[server.bus]}: how mailbox changes travel between processes (L{idlemail.bus})."""
    kind: str = "local"
    endpoint: str | None = None  # a Twisted client endpoint string, for kind = "redis"


@dataclass(frozen=True)
class ServerConfig:
    listen: tuple[str, ...] = DEFAULT_LISTEN
    backend: str = "maildir"
    backendSection: dict = field(default_factory=dict)
    idleKeepalive: float = 120.0
    autologout: float = 30 * 60.0
    appendLimit: int = 50 * 1024 * 1024
    tlsCertificate: str | None = None
    tlsKey: str | None = None
    workers: int = 1
    bus: BusConfig = BusConfig()
    # Hardening, with Dovecot's defaults (README, "TLS and limits").
    plaintextAuth: str = "loopback"  # where LOGIN may be used without TLS
    trustedNetworks: tuple[str, ...] = DEFAULT_TRUSTED
    maxConnectionsPerIP: int = 100
    maxUserIPConnections: int = 10
    preloginTimeout: float = 60.0
    authThreads: int = 2
    authCacheTTL: float = 3600.0
    # RFC 6154 special use by mailbox name ([server.special_use]); None: the usual names.
    specialUse: dict | None = None
    notifyMaxMailboxes: int = 100  # NOTIFY (RFC 5465): mailboxes one session may watch


@dataclass(frozen=True)
class MetricsConfig:
    listen: str  # a Twisted endpoint string for the Prometheus scrape endpoint


@dataclass(frozen=True)
class Config:
    path: str
    server: ServerConfig | None = None
    notifier: object | None = None  # idlemail.notifier.config.NotifierConfig
    metrics: MetricsConfig | None = None


def parseServer(data: dict, path: str) -> ServerConfig:
    t = Table(data, "server", path)
    listen = t.strings("listen", DEFAULT_LISTEN)
    if not listen:
        raise t.error("listen", "needs at least one endpoint, e.g. \"tcp:1143:interface=127.0.0.1\"")
    backend = t.get("backend", str, "maildir")
    section = t.get(backend, dict, {}) if backend in data else {}
    keepalive = t.duration("idle_keepalive", 120.0)
    autologout = t.duration("autologout", 30 * 60.0)
    if autologout < 30 * 60:
        raise t.error("autologout", "must be at least 30m (RFC 3501 section 5.4)")
    cert = t.get("tls_certificate", str)
    key = t.get("tls_key", str, cert)
    workers = t.get("workers", int, 1)
    if not 1 <= workers <= MAX_WORKERS:
        raise t.error("workers", f"must be from 1 to {MAX_WORKERS} (one per core is plenty)")
    if workers > 1 and backend == "memory":
        raise t.error("workers", "the memory backend keeps mail inside one process; "
                                 "several workers need backend = \"maildir\"")
    bus = parseBus(t.table("bus"), backend)
    plaintext = t.get("plaintext_auth", str, "loopback")
    if plaintext not in ("loopback", "always", "never"):
        raise t.error("plaintext_auth", f"{plaintext!r}: use \"loopback\", \"always\" or \"never\"")
    trusted = t.strings("trusted_networks", DEFAULT_TRUSTED)
    for net in trusted:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise t.error("trusted_networks", f"{net!r} is not a network (e.g. \"10.0.0.0/8\")")
    config = ServerConfig(listen, backend, dict(section), keepalive, autologout,
                          t.size("append_limit", 50 * 1024 * 1024), cert, key, workers, bus,
                          plaintext, trusted, _count(t, "max_connections_per_ip", 100),
                          _count(t, "max_userip_connections", 10),
                          t.duration("prelogin_timeout", 60.0), _count(t, "auth_threads", 2, 1),
                          t.duration("auth_cache_ttl", 3600.0),
                          parseSpecialUse(t) if "special_use" in data else None,
                          _count(t, "notify_max_mailboxes", 100))
    t.rejectUnknown(allowed={backend})
    return config


def parseSpecialUse(t: Table) -> dict[str, str]:
    """C{[server.special_use]}: mailbox name -> attribute, e.g. C{"Sent Items" = "\\Sent"}."""
    from idlemail.wire.listgrammar import SPECIAL_USES
    table = t.table("special_use")
    known = {use.lower(): use for use in SPECIAL_USES}
    out = {}
    for name in list(table.data):
        use = table.get(name, str)
        if use.lower() not in known:
            raise table.error(name, f"{use!r} is not a special use (one of "
                                    f"{', '.join(SPECIAL_USES)})")
        out[name] = known[use.lower()]
    return out


def _count(t: Table, name: str, default: int, least: int = 0) -> int:
    value = t.get(name, int, default)
    if value < least:
        raise t.error(name, f"must be at least {least}")
    return value


def parseBus(t: Table, backend: str) -> BusConfig:
    from idlemail.client.endpoints import checkServer
    from idlemail.settings import didYouMean
    kind = t.get("kind", str, "local")
    endpoint = t.get("endpoint", str)
    t.rejectUnknown()  # first: a misspelt key is the likelier mistake than a missing one
    if kind not in BUS_KINDS:
        raise t.error("kind", f"{kind!r} is not a bus (use \"local\" or \"redis\")"
                              + didYouMean(kind, BUS_KINDS))
    if kind == "local" and endpoint is not None:
        raise t.error("endpoint", "is only for kind = \"redis\"")
    if kind == "redis":
        if endpoint is None:
            raise t.error("endpoint", "is required with kind = \"redis\" "
                                      "(e.g. \"tcp:127.0.0.1:6379\")")
        try:
            checkServer(endpoint)
        except ValueError as e:
            # checkServer's examples are IMAP ones (quoted with "): give Redis's instead.
            text = (str(e).replace(':143"', ':6379"').replace(':993"', ':6380"')
                    .replace("imap.example.org", "redis.example.org"))
            raise t.error("endpoint", text) from None
        if backend == "memory":
            raise t.error("kind", "the memory backend's mail lives in one process: "
                                  "there is nothing to share over Redis")
        if backend == "remote":
            raise t.error("kind", "the remote backend follows its upstream server from "
                                  "every process: there is nothing to share over Redis")
    return BusConfig(kind, endpoint)


def parseMetrics(data: dict, path: str) -> MetricsConfig:
    t = Table(data, "metrics", path)
    config = MetricsConfig(t.get("listen", str, required=True))
    t.rejectUnknown()
    return config


def loadConfig(path: str | Path) -> Config:
    """Read and check a config file; raise L{ConfigError} with one line on any problem."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}")
    return parseConfig(data, path)


def parseConfig(data: dict, path: str) -> Config:
    top = Table(data, "", path)
    server = parseServer(top.get("server", dict), path) if "server" in data else None
    notifier = None
    if "notifier" in data:
        from idlemail.notifier.config import parseNotifier
        notifier = parseNotifier(top.get("notifier", dict), path)
    metrics = parseMetrics(top.get("metrics", dict), path) if "metrics" in data else None
    top.rejectUnknown(allowed={"server", "notifier", "metrics"})
    if metrics is not None and server is not None and server.workers > 1:
        raise ConfigError(f"{path}: metrics.listen: not with server.workers > 1 yet "
                          f"(each worker counts its own sessions); use workers = 1")
    if server is None and notifier is None:
        raise ConfigError(f"{path}: needs a [server] or a [notifier] table (or both)")
    return Config(path, server, notifier, metrics)


HIDDEN = "(hidden)"
_SECRETS = frozenset({"password", "secret", "token"})


def effectiveConfig(config: Config) -> dict:
    """
    The config as it will run, defaults filled in, secrets hidden: a dict for a TOML
    writer (C{idlemail check-config --print}, as C{doveconf -n} shows Dovecot's).
    """
    from idlemail.backends.registry import effectiveSection
    from idlemail.settings import formatDuration, formatSize
    out: dict = {}
    if config.server is not None:
        s = config.server
        server = {"listen": list(s.listen), "backend": s.backend,
                  "idle_keepalive": formatDuration(s.idleKeepalive),
                  "autologout": formatDuration(s.autologout),
                  "append_limit": formatSize(s.appendLimit)}
        if s.tlsCertificate:
            server.update(tls_certificate=s.tlsCertificate, tls_key=s.tlsKey)
        server["workers"] = s.workers
        server["bus"] = {"kind": s.bus.kind}
        if s.bus.endpoint:
            server["bus"]["endpoint"] = s.bus.endpoint
        server.update(plaintext_auth=s.plaintextAuth, trusted_networks=list(s.trustedNetworks),
                      max_connections_per_ip=s.maxConnectionsPerIP,
                      max_userip_connections=s.maxUserIPConnections,
                      prelogin_timeout=formatDuration(s.preloginTimeout),
                      auth_threads=s.authThreads, auth_cache_ttl=formatDuration(s.authCacheTTL),
                      notify_max_mailboxes=s.notifyMaxMailboxes)
        if s.specialUse is not None:
            server["special_use"] = dict(s.specialUse)
        section = effectiveSection(s.backend, s.backendSection, config.path)
        if isinstance(section.get("users"), dict):  # the memory backend's passwords
            section = {**section, "users": dict.fromkeys(section["users"], HIDDEN)}
        server[s.backend] = section
        out["server"] = server
    if config.notifier is not None:
        out["notifier"] = _notifierTables(config.notifier)
    if config.metrics is not None:
        out["metrics"] = {"listen": config.metrics.listen}
    return out


def _notifierTables(notifier) -> dict:
    # Generic over the notifier's dataclasses (their fields are the config keys in
    # camelCase), so that a key the notifier adds shows up here without a change.
    from dataclasses import fields
    accounts = []
    for account in notifier.accounts:
        table: dict = {}
        debounce: dict = {}
        for f in fields(account):
            value = getattr(account, f.name)
            if f.name in ("path", "key") or value is None:
                continue
            if f.name.startswith("debounce"):
                debounce[_snake(f.name.removeprefix("debounce"))] = value
                continue
            name = "password" if f.name == "passwordValue" else _snake(f.name)
            table[name] = _hideSecrets(name, _plain(value))
        if debounce:
            table["debounce"] = debounce
        accounts.append(table)
    return {"state_file": notifier.stateFile, "accounts": accounts}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _hideSecrets(k, _plain(v)) for k, v in value.items()}
    return value


def _hideSecrets(name: str, value):
    return HIDDEN if name in _SECRETS and isinstance(value, str) else value
