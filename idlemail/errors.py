"""
The one error a command ends with: raised by handlers and backends alike (in a failed
Deferred from a backend), turned by the protocol into a tagged NO or BAD.
"""


class IMAPError(Exception):
    """
    The request is refused; C{str(error)} is shown to the client and should say why.

    @ivar code: an optional response code (RFC 3501 7.1, RFC 5530) such as
        C{"NONEXISTENT"}, C{"ALREADYEXISTS"}, C{"CANNOT"}, C{"LIMIT"}, C{"TRYCREATE"}.
    @ivar status: C{"NO"} (the request is understood and refused) or C{"BAD"} (the
        request itself is wrong: syntax, arguments).
    """

    def __init__(self, text: str, code: str | None = None, status: str = "NO"):
        super().__init__(text)
        self.code = code
        self.status = status


#: The name backends used before errors were one type; the same class.
MailboxError = IMAPError


class BadRequest(IMAPError):
    """The command's arguments are wrong (tagged BAD)."""

    def __init__(self, text: str, code: str | None = None):
        super().__init__(text, code, "BAD")


class NoSuchMailbox(IMAPError):
    def __init__(self, name: str):
        super().__init__(f"Mailbox doesn't exist: {name}", "NONEXISTENT")


class MailboxExists(IMAPError):
    def __init__(self, name: str):
        super().__init__(f"Mailbox already exists: {name}", "ALREADYEXISTS")


class ReadOnlyMailbox(IMAPError):
    def __init__(self) -> None:
        super().__init__("Mailbox is read-only", "READ-ONLY")


class ConfigError(Exception):
    """
    A configuration value is wrong; C{str(error)} is one line naming the key and the file.
    """
