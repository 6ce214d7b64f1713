"""
The change bus (L{idlemail.bus.interfaces}): in one process (L{idlemail.bus.local}) or
between processes over Redis (L{idlemail.bus.redis}), carrying L{idlemail.bus.envelope}s.
"""

from __future__ import annotations

from idlemail.bus.envelope import Envelope, EnvelopeStamper
from idlemail.bus.interfaces import IChangeBus, IChangeReceiver, ISubscription
from idlemail.bus.local import LocalBus
from idlemail.bus.receiver import SequencedReceiver


def buildBus(kind: str = "local", endpoint: str | None = None, origin: str | None = None):
    """The bus C{[server.bus]} asks for, built but not started (it is a service)."""
    if kind == "redis":
        from idlemail.bus.redis import RedisBus
        return RedisBus(endpoint, origin)
    return LocalBus(origin)


__all__ = ["Envelope", "EnvelopeStamper", "IChangeBus", "IChangeReceiver", "ISubscription",
           "LocalBus", "SequencedReceiver", "buildBus"]
