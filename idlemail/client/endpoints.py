"""
Client endpoints from config strings, with TLS verified by default.

C{tls:host:993} is built here rather than by Twisted's parser so that a private CA file
(C{ca_file}) and the explicit opt-out (C{insecure_skip_verify}) apply to it; any other
string (C{tcp:host:143}, C{unix:...}) goes to L{clientFromString}.
"""

from __future__ import annotations

from twisted.internet import ssl
from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS

from idlemail.errors import ConfigError


def tlsOptions(host: str, caFile: str | None = None, insecure: bool = False):
    """Client TLS options checking the certificate chain and the host name."""
    if insecure:
        return ssl.CertificateOptions(verify=False)
    trustRoot = None
    if caFile:
        with open(caFile, "rb") as f:
            trustRoot = ssl.Certificate.loadPEM(f.read())
    return ssl.optionsForClientTLS(host, trustRoot=trustRoot)


def clientEndpoint(reactor, description: str, caFile: str | None = None,
                   insecure: bool = False):
    if description.startswith("tls:"):
        parts = description.split(":")
        if len(parts) < 3 or not parts[2].isdigit():
            raise ConfigError(f"{description!r}: expected tls:HOST:PORT")
        host, port = parts[1], int(parts[2])
        return wrapClientTLS(tlsOptions(host, caFile, insecure),
                             HostnameEndpoint(reactor, host, port, timeout=30))
    return clientFromString(reactor, description)
