"""
The STATUS response (RFC 3501 7.2.4), for the STATUS command and LIST-STATUS (RFC 5819).
"""

from __future__ import annotations

from idlemail.server.names import encodeName


def statusResponse(name: str, figures, items) -> bytes:
    """C{STATUS name (ITEM n ...)} (without C{* }) from an L{idlemail.records.MailboxStatus}."""
    values = " ".join(f"{item} {getattr(figures, item.lower())}" for item in items)
    return b"STATUS " + encodeName(name) + b" (" + values.encode() + b")"
