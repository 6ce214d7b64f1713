"""
Mailbox names <-> Maildir++ folders (the layout Dovecot and Courier use).

INBOX is the Maildir itself; "Sent" is C{.Sent}; "Lists/python" is C{.Lists.python}. Each
level is stored in modified UTF-7 (RFC 3501 5.1.3), as Dovecot stores it.
"""

from __future__ import annotations

import twisted.mail.imap4  # noqa: F401  registers the "imap4-utf-7" codec (a pure helper)

from idlemail.errors import IMAPError

DELIMITER = "/"
NAME_MAX = 255  # octets in one directory entry, and a folder is one: ".Lists.python"


def checkName(name: str) -> list[str]:
    """The levels of C{name}; a L{IMAPError} for a name that could leave the Maildir."""
    if not name or name.startswith(DELIMITER) or name.endswith(DELIMITER):
        raise IMAPError(f"Invalid mailbox name {name!r}: empty level or leading/trailing "
                           f"{DELIMITER!r}", "CANNOT")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise IMAPError("Invalid mailbox name: control characters are not allowed", "CANNOT")
    levels = name.split(DELIMITER)
    for level in levels:
        if not level or level in (".", "..") or level.startswith("."):
            raise IMAPError(f"Invalid mailbox name {name!r}: a level may not be empty or "
                               f"start with '.'", "CANNOT")
        if "." in level:
            raise IMAPError(f"Invalid mailbox name {name!r}: '.' is the Maildir++ "
                               f"separator and cannot be used in a name", "CANNOT")
        if "\\" in level or "~" == level[0]:
            raise IMAPError(f"Invalid mailbox name {name!r}", "CANNOT")
    return levels


def folderOf(name: str) -> str:
    """The folder directory (relative to the Maildir root), C{""} for INBOX."""
    if name.upper() == "INBOX":
        return ""
    levels = checkName(name)
    encoded = "." + ".".join(level.encode("imap4-utf-7").decode("ascii") for level in levels)
    if len(encoded) > NAME_MAX:
        raise IMAPError(f"Mailbox name too long for a Maildir folder ({len(encoded)} octets, "
                        f"at most {NAME_MAX})", "LIMIT")
    return encoded


def nameOf(folder: str) -> str | None:
    """The mailbox name of a C{.Folder} directory, or None if it is not one."""
    if not folder.startswith(".") or folder in (".", ".."):
        return None
    try:
        levels = [level.encode("ascii").decode("imap4-utf-7") for level in folder[1:].split(".")]
    except (UnicodeError, ValueError):
        return None
    if any(not level for level in levels):
        return None
    return DELIMITER.join(levels)
