"""
The Prometheus scrape endpoint: C{[metrics] listen = "tcp:9143:interface=127.0.0.1"} serves
C{GET /metrics} in the text format (or OpenMetrics, if the scraper asks for it).
"""

from __future__ import annotations

from prometheus_client.exposition import choose_encoder
from twisted.web.resource import Resource
from twisted.web.server import Site

from idlemail.listen import ListeningService


class MetricsPage(Resource):
    """
    Renders the registry on the reactor thread. (prometheus_client's own Twisted resource
    collects in a thread pool; our collectors read the server's sessions and folders, which
    only the reactor thread may touch, and the reactor's pool is the one Maildir reads use.)
    """

    isLeaf = True

    def __init__(self, registry):
        super().__init__()
        self.registry = registry

    def render_GET(self, request) -> bytes:
        if request.path not in (b"/metrics", b"/metrics/"):
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"idlemail: the metrics are at /metrics\n"
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        encoder, contentType = choose_encoder(accept)
        request.setHeader(b"Content-Type", contentType.encode())
        return encoder(self.registry)


class _QuietSite(Site):
    noisy = False

    def log(self, request) -> None:
        """No access log line per scrape: one every 15 s would bury everything else."""


class MetricsService(ListeningService):
    """Serves C{metrics} (an L{idlemail.metrics.Metrics}) on one endpoint string."""

    def __init__(self, metrics, description: str, where: str, reactor=None):
        super().__init__(description, _QuietSite(MetricsPage(metrics.registry)), where,
                         reactor)
