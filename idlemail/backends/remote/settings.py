"""
The C{[server.remote]} table, read into L{RemoteSettings}; every error is one line
naming the key (the registry adds the file and the table).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from idlemail.client.endpoints import checkServer
from idlemail.client.protocol import DEFAULT_MAX_LITERAL
from idlemail.client.settings import WatchSettings, serverAddress
from idlemail.settings import Table

AUTH_MODES = ("passthrough",)


@dataclass(frozen=True)
class RemoteSettings:
    upstream: str  # a client endpoint: tls:HOST:993, tcp:HOST:143
    starttls: bool = False
    plaintext: bool = False
    caFile: str | None = None
    insecureSkipVerify: bool = False
    auth: str = "passthrough"  # a local login is checked by logging in upstream
    maxConnections: int = 4  # command connections per user (watchers come on top)
    keepConnections: int = 1  # idle command connections kept per user
    connectionIdleTimeout: float = 300.0
    commandTimeout: float = 30.0
    pollInterval: float = 30.0  # upstreams without IDLE
    reidle: float = 600.0  # RFC 2177: re-issue IDLE well before 29 minutes
    backoffInitial: float = 1.0
    backoffMax: float = 60.0
    watchLinger: float = 30.0  # a mailbox stays watched this long after its last session
    fetchChunk: int = 256 * 1024  # octets per upstream partial fetch of a streamed body
    maxLiteralSize: int = DEFAULT_MAX_LITERAL

    @property
    def address(self) -> str:
        return serverAddress(self.upstream)

    def login(self, username: str, password: str) -> WatchSettings:
        """The client-side settings to open an upstream session as C{username}."""
        return WatchSettings(
            account=username, server=self.upstream, username=username, password=password,
            starttls=self.starttls, plaintext=self.plaintext, caFile=self.caFile,
            insecureSkipVerify=self.insecureSkipVerify, auth="login",
            commandTimeout=self.commandTimeout, maxLiteralSize=self.maxLiteralSize)


def parseRemote(section: dict) -> RemoteSettings:
    t = Table(section, "", "")
    upstream = t.get("upstream", str, required=True)
    try:
        checkServer(upstream)
    except ValueError as e:
        raise t.error("upstream", str(e))
    starttls = t.get("starttls", bool, False)
    plaintext = t.get("plaintext", bool, False)
    if upstream.startswith("tcp:") and not (starttls or plaintext):
        raise t.error("upstream", "a tcp: upstream would get passwords in clear; set "
                                  "starttls = true or, for a trusted network, plaintext = true")
    caFile = t.get("ca_file", str)
    if caFile is not None and not os.access(caFile, os.R_OK):
        raise t.error("ca_file", f"not a readable file: {caFile}")
    auth = t.get("auth", str, "passthrough")
    if auth not in AUTH_MODES:
        raise t.error("auth", f"unknown mode {auth!r} (use: {', '.join(AUTH_MODES)})")
    maxConnections = t.get("max_connections", int, 4)
    if maxConnections < 1:
        raise t.error("max_connections", "must be at least 1")
    keep = t.get("keep_connections", int, 1)
    if not 0 <= keep <= maxConnections:
        raise t.error("keep_connections", f"must be from 0 to max_connections "
                                          f"({maxConnections})")
    settings = RemoteSettings(
        upstream=upstream, starttls=starttls, plaintext=plaintext, caFile=caFile,
        insecureSkipVerify=t.get("insecure_skip_verify", bool, False), auth=auth,
        maxConnections=maxConnections, keepConnections=keep,
        connectionIdleTimeout=t.duration("connection_idle_timeout", 300.0),
        commandTimeout=_positive(t, "command_timeout", 30.0),
        pollInterval=_positive(t, "poll_interval", 30.0),
        reidle=_positive(t, "reidle", 600.0),
        backoffMax=_positive(t, "backoff_max", 60.0),
        watchLinger=t.duration("watch_linger", 30.0),
        fetchChunk=t.size("fetch_chunk", 256 * 1024),
        maxLiteralSize=t.size("max_literal_size", DEFAULT_MAX_LITERAL))
    if settings.reidle > 29 * 60:
        raise t.error("reidle", "must be at most 29m (RFC 2177)")
    t.rejectUnknown()
    return settings


def _positive(t: Table, key: str, default: float) -> float:
    value = t.duration(key, default)
    if value <= 0:
        raise t.error(key, "must be more than 0")
    return value


def settingsAsDict(s: RemoteSettings) -> dict:
    """The effective C{[server.remote]} table, for C{check-config --print}."""
    from idlemail.settings import formatDuration, formatSize
    out = {"upstream": s.upstream, "starttls": s.starttls, "plaintext": s.plaintext,
           "auth": s.auth, "max_connections": s.maxConnections,
           "keep_connections": s.keepConnections,
           "connection_idle_timeout": formatDuration(s.connectionIdleTimeout),
           "command_timeout": formatDuration(s.commandTimeout),
           "poll_interval": formatDuration(s.pollInterval), "reidle": formatDuration(s.reidle),
           "backoff_max": formatDuration(s.backoffMax),
           "watch_linger": formatDuration(s.watchLinger),
           "fetch_chunk": formatSize(s.fetchChunk),
           "max_literal_size": formatSize(s.maxLiteralSize),
           "insecure_skip_verify": s.insecureSkipVerify}
    if s.caFile is not None:
        out["ca_file"] = s.caFile
    return out
