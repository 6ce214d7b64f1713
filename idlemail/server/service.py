"""
The IMAP server as a Twisted service: one listening endpoint service per C{listen}
string, over one backend and one factory.
"""

from __future__ import annotations

from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.logger import Logger

from idlemail.listen import ListeningService
from idlemail.server.factory import IMAPServerFactory


class IMAPServerService(MultiService):
    """
    C{listen} strings are parsed here (a bad one raises L{idlemail.errors.ConfigError}
    naming C{where}); listening starts with the service. C{metrics}, an
    L{idlemail.metrics.Metrics}, is given to the factory (as C{factory.metrics}) for the
    counters, and reads the sessions and the backend's folders at each scrape.
    """

    log = Logger()

    def __init__(self, backend, listen, reactor=None, banner: str | None = None,
                 where: str = "server.listen", metrics=None, **settings):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.backend = backend
        self.banner = banner
        self.factory = IMAPServerFactory(backend, reactor, **settings)
        if metrics is not None:
            self.factory.metrics = metrics
            metrics.watchServer(self.factory)
            metrics.watchBackend(backend)
        for description in listen:
            ListeningService(description, self.factory, where, reactor).setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        if self.banner:
            self.log.info("{banner}", banner=self.banner)

    def stopService(self):
        d = defer.maybeDeferred(super().stopService)
        d.addCallback(lambda _: self.backend.close())
        return d
