"""
Errors a backend raises (in a failed Deferred) that the protocol turns into a tagged NO.
"""


class MailboxError(Exception):
    """
    The request is refused; C{str(error)} is shown to the client and should say why.

    @ivar code: an optional RFC 5530 response code such as C{"NONEXISTENT"},
        C{"ALREADYEXISTS"}, C{"CANNOT"}, C{"TOOBIG"}, C{"OVERQUOTA"}.
    """

    def __init__(self, text: str, code: str | None = None):
        super().__init__(text)
        self.code = code


class NoSuchMailbox(MailboxError):
    def __init__(self, name: str):
        super().__init__(f"Mailbox doesn't exist: {name}", "NONEXISTENT")


class MailboxExists(MailboxError):
    def __init__(self, name: str):
        super().__init__(f"Mailbox already exists: {name}", "ALREADYEXISTS")


class ReadOnlyMailbox(MailboxError):
    def __init__(self) -> None:
        super().__init__("Mailbox is read-only", "READ-ONLY")


class ConfigError(Exception):
    """
    A configuration value is wrong; C{str(error)} is one line naming the key and the file.
    """
