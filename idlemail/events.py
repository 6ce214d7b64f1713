"""
What a backend reports when a mailbox changes: frozen events keyed by UID.

Backends publish these to the mailbox's L{idlemail.tracker.MailboxTracker};
they never see sequence numbers or tags.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessagesAdded:
    """
    New messages, each UID higher than any the mailbox held before.

    @ivar uids: ascending UIDs.
    """

    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    """
    Messages that are gone for good.

    @ivar uids: UIDs that the mailbox held until now.
    """

    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """
    New flag sets of some messages.

    @ivar flags: C{(uid, flags)} pairs; C{flags} is the whole new set.
    """

    flags: tuple[tuple[int, frozenset[str]], ...]


@dataclass(frozen=True, slots=True)
class KeywordsAdded:
    """
    Keywords the mailbox did not have before. Published before the L{MessagesAdded} or
    L{FlagsChanged} that first uses them, so that every session is sent the new FLAGS
    first (RFC 3501 7.2.6).

    @ivar keywords: the new keywords, in the mailbox's one spelling of each.
    """

    keywords: tuple[str, ...]


MailboxEvent = MessagesAdded | MessagesExpunged | FlagsChanged | KeywordsAdded
