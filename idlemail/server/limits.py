"""
What one remote address and one user may hold, with Dovecot's defaults: connections per
address (not for C{trusted_networks}, as Dovecot's login_trusted_networks: a proxy or a
webmail host speaks for many users), sessions per user and address (Dovecot's
mail_max_userip_connections, for every address), and the delay before a failed login is
answered, growing with each failure from one address (Dovecot's auth penalty: 2 s, doubled
per failure, at most 15 s, forgotten after an hour without failures).
"""

from __future__ import annotations

import ipaddress

DEFAULT_TRUSTED = ("127.0.0.0/8", "::1")
#: Addresses whose failures are remembered at most; the least recent go first.
MAX_PENALTIES = 65536


def parseAddress(host):
    """An C{ipaddress} address for a peer's host string (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        address = ipaddress.ip_address(host)
    except (ValueError, TypeError):
        return None  # a UNIX socket, or a transport without addresses
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def isLoopback(host: str | None) -> bool:
    address = parseAddress(host)
    return address is not None and address.is_loopback


class Limits:
    """
    The counts behind the limits of one server. A limit of 0 means none. C{clock} gives
    C{seconds()}. Hosts are the normalised strings of L{parseAddress}.
    """

    def __init__(self, clock, *, maxPerIP: int = 100, maxUserIP: int = 10,
                 trustedNetworks=DEFAULT_TRUSTED, failureDelay: float = 2.0,
                 failureDelayMax: float = 15.0, penaltyMemory: float = 3600.0):
        self.clock = clock
        self.maxPerIP, self.maxUserIP = maxPerIP, maxUserIP
        self.trusted = tuple(ipaddress.ip_network(n, strict=False) for n in trustedNetworks)
        self.failureDelayBase, self.failureDelayMax = failureDelay, failureDelayMax
        self.penaltyMemory = penaltyMemory
        self._perIP: dict[str, int] = {}
        self._perUserIP: dict[tuple[str, str], int] = {}
        self._penalties: dict[str, tuple[int, float]] = {}  # host -> (failures, last)

    def isTrusted(self, host: str | None) -> bool:
        address = parseAddress(host)
        return address is not None and any(address in net for net in self.trusted)

    # --- connections per address --------------------------------------------------
    def connect(self, host: str | None) -> bool:
        """Count a new connection from C{host}; False if that address has too many."""
        if host is None or self.isTrusted(host):
            return True
        count = self._perIP.get(host, 0)
        if self.maxPerIP and count >= self.maxPerIP:
            return False
        self._perIP[host] = count + 1
        return True

    def disconnect(self, host: str | None) -> None:
        _decrement(self._perIP, host)

    # --- sessions per user and address --------------------------------------------
    def addUser(self, user: str, host: str | None) -> bool:
        """Count a login of C{user} from C{host}; False if that pair has too many."""
        key = (user, host or "")
        count = self._perUserIP.get(key, 0)
        if self.maxUserIP and count >= self.maxUserIP:
            return False
        self._perUserIP[key] = count + 1
        return True

    def removeUser(self, user: str, host: str | None) -> None:
        _decrement(self._perUserIP, (user, host or ""))

    # --- failed logins ------------------------------------------------------------
    def failed(self, host: str | None) -> float:
        """Record a failed login from C{host}; the seconds to wait before answering it."""
        base = self.failureDelayBase
        if host is None or self.isTrusted(host):
            return base  # many users behind one trusted address: no growth
        failures, _ = self._penalties.pop(host, (0, 0.0))
        self._penalties[host] = (failures + 1, self.clock.seconds())
        if len(self._penalties) > MAX_PENALTIES:
            del self._penalties[next(iter(self._penalties))]
        return min(base * 2 ** min(failures, 16), self.failureDelayMax)

    def succeeded(self, host: str | None) -> None:
        self._penalties.pop(host, None)

    def sweep(self) -> None:
        """Forget the failures of addresses quiet for C{penaltyMemory} seconds."""
        cutoff = self.clock.seconds() - self.penaltyMemory
        penalties = self._penalties
        # Kept in the order of each address's last failure: the old ones are first.
        while penalties:
            host, (_, last) = next(iter(penalties.items()))
            if last > cutoff:
                break
            del penalties[host]


def _decrement(counts: dict, key) -> None:
    count = counts.get(key)
    if count is None:
        return
    if count <= 1:
        del counts[key]
    else:
        counts[key] = count - 1
