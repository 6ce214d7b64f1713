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


_EXAMPLE = "use e.g. \"tls:imap.example.org:993\" or \"tcp:127.0.0.1:143\""


def checkServer(description: str) -> None:
    """
    Raise C{ValueError} with one line if C{description} is not a client endpoint with a
    host and a port (C{tls:}, C{ssl:}, C{tcp:}) or a path (C{unix:}). Builds nothing.
    """
    kind, sep, rest = description.partition(":")
    if not sep or kind not in ("tls", "ssl", "tcp", "unix"):
        raise ValueError(f"{description!r} is not an endpoint ({_EXAMPLE})")
    if kind == "unix":
        if not rest.split(":")[0].strip():
            raise ValueError(f"{description!r} has no socket path")
        return
    fields = rest.split(":")
    positional = [f for f in fields if "=" not in f]
    named = dict(f.split("=", 1) for f in fields if "=" in f)
    host = named.get("host", positional[0] if positional else "")
    port = named.get("port", positional[1] if len(positional) > 1 else None)
    if not host:
        raise ValueError(f"{description!r} has no host ({_EXAMPLE})")
    if port is None:
        raise ValueError(f"{description!r} has no port (e.g. \"{kind}:{host}:"
                         f"{143 if kind == 'tcp' else 993}\")")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{description!r}: port {port!r} is not a number from 1 to 65535")
    if kind == "tls":
        if named or len(positional) > 2:
            raise ValueError(f"{description!r}: tls: takes only HOST:PORT (ca_file and "
                             f"insecure_skip_verify are account keys)")
        return
    try:
        clientFromString(object(), description)  # unknown options: nothing connects
    except TypeError as e:
        unknown = str(e).rpartition("argument ")[2] if "unexpected keyword" in str(e) else str(e)
        raise ValueError(f"{description!r}: unknown option {unknown}")
    except ValueError as e:
        raise ValueError(f"{description!r}: {e}")


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
