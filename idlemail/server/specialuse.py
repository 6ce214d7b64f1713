"""
Special-use mailboxes (RFC 6154): which mailbox holds sent mail, drafts, the trash, junk
and the archive. A backend may keep them per mailbox (L{ISpecialUseAccount}: CREATE with
USE); otherwise they come from the mailbox's name, as in Dovecot's config, through a map
of the names mail clients use (configurable as C{[server] special_use}).
"""

from __future__ import annotations

from idlemail.wire.listgrammar import SPECIAL_USES

#: The names the usual clients give these folders (Thunderbird, Apple Mail, Outlook, K-9,
#: Roundcube, Gmail's IMAP names), compared without regard to case.
DEFAULT_NAMES = {
    "Sent": "\\Sent", "Sent Messages": "\\Sent", "Sent Items": "\\Sent", "Sent Mail": "\\Sent",
    "Drafts": "\\Drafts", "Draft": "\\Drafts",
    "Trash": "\\Trash", "Deleted Messages": "\\Trash", "Deleted Items": "\\Trash",
    "Deleted": "\\Trash", "Bin": "\\Trash",
    "Junk": "\\Junk", "Spam": "\\Junk", "Junk E-mail": "\\Junk", "Junk Email": "\\Junk",
    "Bulk Mail": "\\Junk",
    "Archive": "\\Archive", "Archives": "\\Archive",
}
#: What CREATE ... (USE (...)) may ask for: \All and \Flagged are views a server makes,
#: never a mailbox of stored messages (RFC 6154 2).
CREATABLE = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")
_LOWER = {use.lower() for use in SPECIAL_USES}


def isSpecialUse(attribute: str) -> bool:
    return attribute.lower() in _LOWER


class SpecialUseNames:
    """Special use by mailbox name: top-level names, or the same under C{INBOX/}."""

    def __init__(self, names: dict[str, str] | None = None):
        names = DEFAULT_NAMES if names is None else names
        self._names = dict(names)
        self._byLower = {name.lower(): use for name, use in names.items()}

    def uses(self, name: str, attributes, delimiter: str) -> tuple[str, ...]:
        """The special uses of mailbox C{name}: those its backend gives (C{attributes}),
        or else the map's for its name."""
        given = tuple(a for a in attributes if isSpecialUse(a))
        if given:
            return given
        lower = name.lower()
        inbox = "inbox" + delimiter.lower()
        if lower.startswith(inbox):
            lower = lower[len(inbox):]
        use = self._byLower.get(lower)
        return (use,) if use is not None else ()

    def namesFor(self, uses) -> list[str]:
        """The names that have one of C{uses}, as configured (for an error's text)."""
        wanted = {u.lower() for u in uses}
        return [name for name, use in self._names.items() if use.lower() in wanted][:4]
