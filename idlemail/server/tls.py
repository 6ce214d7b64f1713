"""
TLS context for STARTTLS from PEM files (implicit TLS is the endpoint's job: ssl:993:...).
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet import ssl

from idlemail.errors import ConfigError


def contextFromFiles(certificate: str, key: str | None = None, path: str = ""):
    """
    The context for C{tls_certificate} (and C{tls_key}, if the key is apart); a missing or
    unreadable file is a one-line L{ConfigError} naming C{path} (the config file) and the key.
    """
    at = f"{path}: " if path else ""
    files = [("server.tls_certificate", certificate)]
    if key and key != certificate:
        files.append(("server.tls_key", key))
    pem = b""
    for name, filename in files:
        try:
            pem += Path(filename).read_bytes() + b"\n"
        except OSError as e:
            raise ConfigError(f"{at}{name}: cannot read {filename}: {e.strerror}") from None
    try:
        return ssl.PrivateCertificate.loadPEM(pem).options()
    except Exception as e:  # OpenSSL's errors are many and unhelpful; say which file
        raise ConfigError(f"{at}server.tls_certificate: {certificate}: not a PEM certificate "
                          f"and key ({e.__class__.__name__})") from None
