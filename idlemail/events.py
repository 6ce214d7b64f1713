"""
What a backend reports when a mailbox changes: frozen events keyed by UID.

Backends publish these to the mailbox's L{idlemail.tracker.MailboxTracker};
they never see sequence numbers or tags. Every field is a plain value (ints, strs,
tuples, frozensets), so that an event can cross a process boundary (the change bus).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessagesAdded:
    """
    New messages, each UID higher than any the mailbox held before.

    @ivar uids: ascending UIDs.
    @ivar modseq: the MODSEQ the backend gave them (RFC 7162); 0 if it keeps none.
    """

    uids: tuple[int, ...]
    modseq: int = 0


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    """
    Messages that are gone for good.

    @ivar uids: UIDs that the mailbox held until now.
    @ivar modseq: the MODSEQ of the expunge (RFC 7162: the mailbox's HIGHESTMODSEQ grows
        with it, and QRESYNC reports the UIDs as VANISHED since a lower one); 0 if the
        backend keeps none.
    """

    uids: tuple[int, ...]
    modseq: int = 0


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """
    New flag sets of some messages.

    @ivar flags: C{(uid, flags)} pairs; C{flags} is the whole new set.
    @ivar modseq: the MODSEQ every one of these messages has now (one change, one
        MODSEQ, as Dovecot gives one per transaction); 0 if the backend keeps none.
    """

    flags: tuple[tuple[int, frozenset[str]], ...]
    modseq: int = 0


@dataclass(frozen=True, slots=True)
class KeywordsAdded:
    """
    Keywords the mailbox did not have before. Published before the L{MessagesAdded} or
    L{FlagsChanged} that first uses them, so that every session is sent the new FLAGS
    first (RFC 3501 7.2.6).

    @ivar keywords: the new keywords, in the mailbox's one spelling of each.
    """

    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxReset:
    """
    The mailbox's UIDs no longer mean what sessions were told (its UIDVALIDITY changed
    upstream, RFC 3501 2.3.1.1): every session that has it selected must end rather than
    serve wrong UIDs. The tracker keeps nothing more of it; a backend opens a new one.

    @ivar reason: a line for the user, e.g. C{"INBOX was replaced upstream"}.
    """

    reason: str


MailboxEvent = MessagesAdded | MessagesExpunged | FlagsChanged | KeywordsAdded | MailboxReset
