"""
TLS context for STARTTLS from PEM files (implicit TLS is the endpoint's job: ssl:993:...).
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet import ssl

from idlemail.errors import ConfigError


def contextFromFiles(certificate: str, key: str | None = None):
    try:
        pem = Path(certificate).read_bytes()
        if key and key != certificate:
            pem += b"\n" + Path(key).read_bytes()
        return ssl.PrivateCertificate.loadPEM(pem).options()
    except OSError as e:
        raise ConfigError(f"server.tls_certificate: cannot read {e.filename}: {e.strerror}")
    except Exception as e:  # OpenSSL's errors are many and unhelpful; say which file
        raise ConfigError(f"server.tls_certificate: {certificate}: not a PEM certificate "
                          f"and key ({e.__class__.__name__})")
