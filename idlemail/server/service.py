"""
The IMAP server as a Twisted service: one listening endpoint service per C{listen}
string, over one backend and one factory.
"""

from __future__ import annotations

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from idlemail.server.factory import IMAPServerFactory


class IMAPServerService(MultiService):
    log = Logger()

    def __init__(self, backend, listen, reactor=None, banner: str | None = None, **settings):
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.backend = backend
        self.banner = banner
        self.factory = IMAPServerFactory(backend, reactor, **settings)
        for description in listen:
            endpoint = serverFromString(reactor, description)
            service = StreamServerEndpointService(endpoint, self.factory)
            service._raiseSynchronously = True
            service.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        if self.banner:
            self.log.info("{banner}", banner=self.banner)

    def stopService(self):
        d = defer.maybeDeferred(super().stopService)
        d.addCallback(lambda _: self.backend.close())
        return d
