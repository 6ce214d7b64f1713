"""
The contracts between idlemail's protocol layer and its storage backends.

Who calls: the IMAP server protocol (L{idlemail.server}), always on the reactor thread.
What may block: nothing. Every method that touches disk or network returns a
L{Deferred}; CPU-heavy work (password hashing) belongs in a thread pool.
What is pushed: a backend reports every change of an open mailbox, whoever made it
(a session, an outside MDA, an upstream server), as an L{idlemail.events} event by UID
to that mailbox's L{idlemail.tracker.MailboxTracker} (C{IMailbox.tracker}), on the
reactor thread, through its public API only. A backend knows nothing of tags or
sequence numbers.

Mailbox names are Python strings (already decoded from modified UTF-7), hierarchy
levels separated by C{IAccount.delimiter}; C{"INBOX"} is always spelled so.
Failures the user should see are L{idlemail.errors.IMAPError} (or a subclass such as
L{idlemail.errors.NoSuchMailbox}), which carries the response code.

Flags are case-insensitive (RFC 3501 2.3.2): a backend stores one spelling of each,
system flags as the RFC spells them (L{idlemail.records.systemFlag}) and keywords as
first stored in that mailbox (L{idlemail.records.KeywordSpellings}), and compares
C{"\\\\seen"} with C{"\\\\Seen"} as equal in STORE, APPEND, COPY, EXPUNGE and STATUS.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IBackend(Interface):
    """
    A store of accounts. One per server process.
    """

    def login(username: str, password: str):
        """
        Check the credentials and return a L{Deferred} that fires with an
        L{IAccount}, or fails with L{twisted.cred.error.UnauthorizedLogin}.
        """

    def close():
        """
        Release watches, connections and files; return a L{Deferred} that fires when done.
        """


class IBackendFactory(Interface):
    """
    A plugin (found with L{twisted.plugin.getPlugins}) that builds a backend by name
    from its config section, e.g. C{[server.maildir]} for C{backend = "maildir"}.
    """

    name = Attribute("The value of C{backend} in C{[server]} that picks this factory.")

    def build(section: dict, reactor):
        """
        Return an L{IBackend} from the backend's config section (a plain dict).
        Raise L{idlemail.errors.ConfigError} naming the key for a bad value.
        """


class IAccount(Interface):
    """
    One user's mailboxes, for the length of one authenticated session.
    """

    username = Attribute("The login name, a str.")
    delimiter = Attribute("The hierarchy delimiter, a one-character str, e.g. '/'.")

    def listMailboxes():
        """
        L{Deferred} firing with every mailbox as a list of
        L{idlemail.records.MailboxInfo}. The protocol matches LIST patterns.
        """

    def create(name: str):
        """
        Create a mailbox (and any missing parents). L{Deferred} firing with None.
        """

    def delete(name: str):
        """
        Delete a mailbox. L{Deferred} firing with None.
        """

    def rename(oldName: str, newName: str):
        """
        Rename a mailbox and its children. Renaming INBOX moves its messages to a
        new mailbox and leaves INBOX empty (RFC 3501 6.3.5). L{Deferred} firing with None.
        """

    def subscribe(name: str):
        """L{Deferred} firing with None once C{name} is in the subscription list."""

    def unsubscribe(name: str):
        """L{Deferred} firing with None once C{name} is out of the subscription list."""

    def subscriptions():
        """L{Deferred} firing with the subscribed names, a list of str."""

    def status(name: str):
        """
        L{Deferred} firing with an L{idlemail.records.MailboxStatus}. Its C{recent} is
        the number of messages the next SELECT would see as \\Recent (for an open
        mailbox, C{tracker.recentCount}), so SELECT, EXAMINE and STATUS agree.
        """

    def open(name: str, readonly: bool):
        """
        L{Deferred} firing with an L{IMailbox} for one session. Sessions that open the
        same mailbox in one process share its C{tracker}.
        """

    def logout():
        """The session has ended; drop whatever it held. Returns None."""


class IMailbox(Interface):
    """
    One session's handle on an open mailbox. Mutating methods take C{origin}, an
    opaque token the backend passes on to C{tracker.publish} unchanged, so that the
    session that made a change is not told of it twice.
    """

    name = Attribute("The mailbox's name, a str.")
    readonly = Attribute("True if opened with EXAMINE or not writable.")
    uidValidity = Attribute("The UIDVALIDITY: an int above 0 that never changes while "
                            "the mailbox lives, and that a mailbox of the same name "
                            "created later never has again (RFC 3501 2.3.1.1).")
    uidNext = Attribute("The UID the next message will get, an int.")
    permanentFlags = Attribute("Flags a client may store for good: a tuple of str; "
                               "'\\\\*' if new keywords may be made.")
    tracker = Attribute("The L{idlemail.tracker.MailboxTracker} this mailbox feeds; "
                        "its C{uids} are the mailbox's UIDs, ascending, and its "
                        "C{keywords} the mailbox's keywords. A message is \\\\Recent "
                        "(RFC 3501 2.3.2) until a read-write session claims it; "
                        "C{tracker.onClaim} tells the backend when, so it can "
                        "remember it across restarts if it keeps state on disk.")

    def messages(uids):
        """
        L{Deferred} firing with a list of L{idlemail.records.MessageInfo} for those of
        C{uids} (ascending ints) that still exist, in the same order.
        """

    def flags(uids):
        """
        L{Deferred} firing with a dict uid -> flags (frozenset of str) for those of C{uids}
        that still exist. Cheap: SELECT asks it of every message, so it must not read
        message contents.
        """

    def body(uid: int):
        """
        L{Deferred} firing with the whole message as stored (bytes, CRLF line ends),
        or None if it no longer exists.
        """

    def append(message: bytes, flags, internaldate):
        """
        Add a message (C{flags}: iterable of str; C{internaldate}: aware datetime or
        None for now). L{Deferred} firing with its UID once it is durable; the
        resulting L{idlemail.events.MessagesAdded} is published before it fires,
        after a L{idlemail.events.KeywordsAdded} if it brings keywords new to the
        mailbox. It is \\Recent for the first read-write session to see it.
        """

    def store(uids, flags, mode: str, origin=None):
        """
        Change flags: C{mode} is C{"+"} (add), C{"-"} (remove) or C{""} (replace).
        L{Deferred} firing with a dict uid -> new flag set (frozenset) for the
        messages that exist; a L{idlemail.events.FlagsChanged} is published for
        those whose flags changed, after a L{idlemail.events.KeywordsAdded} for
        keywords new to the mailbox.
        """

    def expunge(uids=None, origin=None):
        """
        Remove the messages flagged C{\\Deleted} (only those among C{uids} if given,
        for UID EXPUNGE). L{Deferred} firing with the expunged UIDs, ascending, after
        a L{idlemail.events.MessagesExpunged} is published.
        """

    def copy(uids, destination: str, move: bool = False, origin=None):
        """
        Copy (or move) messages, flags and internal date kept, to the mailbox named
        C{destination} of the same account. L{Deferred} firing with
        C{(destUidValidity, [(sourceUid, destUid), ...])}.
        """

    def close():
        """
        The session deselects the mailbox; the backend may stop watching it when its
        tracker has no sessions left. Returns None.
        """


# --- optional capabilities of an IMailbox (checked with providedBy, as go-imap's
# optional interfaces): a backend that can answer these itself (the remote backend asks
# its upstream) provides them; the server falls back to its own evaluation otherwise.

class IBodyStreams(Interface):
    """Optional for IMailbox (check with providedBy): read a whole message in pieces,
    so that a FETCH of a large message never holds it whole in memory."""
    def openBody(uid: int):
        """Deferred firing with an object with C{size} (octets as FETCH counts them,
        CRLF line ends) and C{read(n) -> Deferred[bytes]} (b"" at the end) and
        C{close()}; or with None if the message no longer exists."""


class ICatchUpMailbox(Interface):
    """Optional for IMailbox: a mailbox whose store other processes change, and whose
    news of them may lag (file events read later, or none)."""
    def catchUp():
        """Deferred firing once the mailbox's view holds every change made to its store
        up to now; the server calls it for NOOP and CHECK (a client's way to ask for
        news), then tells the session what changed. Never fails."""


class IPartialBodies(Interface):
    """
    Optional for IMailbox: one body section of a message, or a range of its octets,
    without the server reading (or the backend downloading) the whole message.
    """

    def bodyPart(uid: int, section, partial):
        """
        L{Deferred} firing with the octets of C{section} (an
        L{idlemail.wire.message.Section}, RFC 3501 6.4.5: C{Section()} is the whole
        message) of message C{uid}, cut to C{partial} (C{(start, length)}, or None for
        all of it) as C{BODY[section]<start.length>} counts; or with None if the message
        no longer exists. Never sets \\Seen: the server does that.
        """


class ISearchMailbox(Interface):
    """
    Optional for IMailbox: SEARCH answered by the backend (e.g. sent upstream as
    C{UID SEARCH}) instead of the server evaluating it over every message's body.
    """

    def search(criteria, uids):
        """
        L{Deferred} firing with the UIDs, ascending, among C{uids} (the session's view,
        ascending ints) that match C{criteria}: an L{idlemail.wire.command.SearchKey}
        tree in which the session-dependent keys are already resolved by the server to
        UID sets (C{SEQ}, C{*}, C{RECENT}, C{NEW} and C{OLD} become C{UID} keys with
        explicit ranges), so that only keys about the messages themselves are left.
        Unknown keys fail with L{idlemail.errors.IMAPError}.
        """


class ISpecialUseAccount(Interface):
    """
    Optional for L{IAccount}: special-use attributes (RFC 6154: C{\\Sent}, C{\\Drafts},
    C{\\Trash}, C{\\Junk}, C{\\Archive}, ...) kept per mailbox by the backend, so that
    C{CREATE name (USE (...))} works (CREATE-SPECIAL-USE). The backend reports them in
    C{MailboxInfo.attributes} from C{listMailboxes}, keeps them through RENAME and forgets
    them with DELETE. Without it the server gives special use by mailbox name only
    (C{[server] special_use}, as Dovecot's config does).
    """

    def createSpecialUse(name: str, uses):
        """
        Create a mailbox, as C{create} does, marked with C{uses} (a tuple of attributes as
        RFC 6154 spells them). Fail with L{idlemail.errors.IMAPError} code C{USEATTR},
        creating nothing, for a use the backend cannot give (e.g. C{\\All}).
        """


class ICachedLogin(Interface):
    """
    Optional for L{IBackend} (check with providedBy): lets the server keep the credentials
    C{login} accepted, as Dovecot's auth_cache does, so that a reconnect storm costs one
    password check per user instead of one per connection.

    A passwd-file backend answers C{credentialsVersion} from the file's stamp (mtime, size,
    inode) and C{accountFor} with the account C{login} builds after its password check.
    """

    def credentialsVersion():
        """
        Any value that changes whenever a user's password may have changed (a passwd-file's
        stamp); logins accepted under another value are forgotten. None if the backend
        cannot tell: then only the cache's time to live bounds how long an old password
        keeps working after a change.
        """

    def accountFor(username: str):
        """
        L{Deferred} firing with the L{IAccount} that C{login} gives C{username}, without
        checking a password. The server calls it only for a user whose password C{login}
        accepted within the cache's time to live, with C{credentialsVersion()} unchanged
        since; it may fail with L{twisted.cred.error.UnauthorizedLogin} (the user is gone).
        """


# --- CONDSTORE and QRESYNC (RFC 7162), NOTIFY (RFC 5465): what the server advertises
# depends on the backend, since a backend that cannot keep MODSEQs (or watch mailboxes
# cheaply) must not be offered to clients as if it could.

class ICondStoreBackend(Interface):
    """
    Optional for L{IBackend} (a marker, checked with providedBy): every mailbox it opens
    provides L{IModSeqMailbox}, its trackers carry C{highestModseq}, the events it
    publishes carry their C{modseq}, and C{IAccount.status} fills in
    C{MailboxStatus.highestmodseq}. The server then advertises CONDSTORE and QRESYNC.

    The MODSEQs of a mailbox (RFC 7162 3.1): every change of a message's flags, every
    new message and every expunge gets a MODSEQ greater than any given before in that
    mailbox (one change, e.g. one STORE, may give several messages the same one); they
    survive restarts and never go backwards while the UIDVALIDITY stays. The mailbox's
    HIGHESTMODSEQ is the greatest given, at least 1.
    """


class IModSeqMailbox(Interface):
    """Optional for L{IMailbox}: per-message MODSEQs and the expunges since one."""

    def modseqs(uids):
        """
        L{Deferred} firing with a dict uid -> MODSEQ for those of C{uids} that still
        exist. Cheap, as C{flags}: CHANGEDSINCE asks it of every message of a FETCH.
        """

    def expungedSince(modseq: int):
        """
        L{Deferred} firing with the UIDs (ascending) of the messages expunged with a
        MODSEQ above C{modseq}; or with None if the backend no longer remembers that far
        back (it keeps a bounded record), in which case the server answers QRESYNC
        conservatively: every UID the client may know that is not there now.
        """

    def storeUnchangedSince(uids, flags, mode: str, unchangedSince: int, origin=None):
        """
        STORE with UNCHANGEDSINCE (RFC 7162 3.1.3): as C{IMailbox.store}, but a message
        whose MODSEQ is above C{unchangedSince} when the change is made is left as it is.
        L{Deferred} firing with C{(stored, modified)}: the dict uid -> flags of the
        messages changed (or already as asked), and the ascending UIDs left unchanged.
        """


class INotifyBackend(Interface):
    """
    Optional for L{IBackend} (a marker): opening a mailbox only to watch it (NOTIFY's
    mailboxes other than the selected one, RFC 5465) is cheap, since every session of a
    user shares the one open mailbox and its tracker, and C{IAccount.status} of an open
    mailbox reads counters rather than the store. The server then advertises NOTIFY.
    """
