"""
Parsing client commands (RFC 3501 section 9 grammar) into typed values.

Input is one whole command as the framer collected it: the command line without its
final CRLF, with each literal inline as C{{n}\\r\\n} or C{{n+}\\r\\n} followed by its
n octets. Nothing here knows sockets or Twisted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from idlemail.records import RECENT, systemFlag
from idlemail.wire.message import Section


class ParseError(Exception):
    """
    The command is malformed. C{tag} is what could be read of it (or C{"*"}).
    """

    def __init__(self, message: str, tag: str = "*"):
        super().__init__(message)
        self.tag = tag


# RFC 3501 section 9: ATOM-CHAR is any CHAR except atom-specials.
_ATOM_SPECIALS = set(b'(){ %*"\\]') | set(range(0x00, 0x20)) | {0x7F}
_TAG_SPECIALS = _ATOM_SPECIALS | {ord("+")}
_LIST_SPECIALS = _ATOM_SPECIALS - set(b"%*]")  # list-mailbox allows % * ]
_LITERAL = re.compile(rb"\{(\d{1,10})(\+?)\}\r\n")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """
    Ranges of sequence numbers or UIDs; C{None} stands for C{*} (the largest in use).
    """

    ranges: tuple[tuple[int | None, int | None], ...]

    def resolve(self, largest: int):
        """Yield (lo, hi) pairs with C{*} replaced by C{largest}, lo <= hi."""
        for lo, hi in self.ranges:
            lo = largest if lo is None else lo
            hi = largest if hi is None else hi
            yield (lo, hi) if lo <= hi else (hi, lo)

    def contains(self, number: int, largest: int) -> bool:
        return any(lo <= number <= hi for lo, hi in self.resolve(largest))


@dataclass(frozen=True, slots=True)
class FetchAttribute:
    """
    One FETCH data item: C{name} is FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE,
    BODYSTRUCTURE, BODY (the structure), RFC822, RFC822.HEADER, RFC822.TEXT, or
    BODY[...] (C{section} set; C{peek} for BODY.PEEK; C{partial} = (start, length)).
    """

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SearchKey:
    """
    One node of a SEARCH criteria tree. C{op} is one of: ALL, AND (args: keys),
    OR (two keys), NOT (one key), SEQ / UID (a L{SequenceSet}), FLAG (flag, wanted:
    bool), RECENT (wanted), NEW, OLD, HEADER (name, text), BODY (text), TEXT (text),
    BEFORE / ON / SINCE and SENTBEFORE / SENTON / SENTSINCE (a date), LARGER / SMALLER
    (octets), MODSEQ (the least MODSEQ, then the entry name and type of RFC 7162's
    C{MODSEQ "/flags/\\seen" all 5} form, or None: every entry of a message has its one
    MODSEQ here).
    """

    op: str
    args: tuple = ()


# --- typed arguments, one small class per command family ------------------------

@dataclass(frozen=True, slots=True)
class MailboxArgs:
    """SELECT, EXAMINE, CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE: one mailbox name as
    sent (modified UTF-7, RFC 3501 5.1.3)."""

    mailbox: bytes


@dataclass(frozen=True, slots=True)
class QresyncArgs:
    """
    SELECT's QRESYNC parameter (RFC 7162 3.2.5): what the client last knew of the
    mailbox. C{knownUids} and C{seqMatch} (the known sequence numbers and their UIDs,
    two L{SequenceSet}s) are None when not given.
    """

    uidValidity: int
    modseq: int
    knownUids: SequenceSet | None = None
    seqMatch: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class SelectArgs:
    """SELECT and EXAMINE: the mailbox, and the CONDSTORE / QRESYNC parameters."""

    mailbox: bytes
    condstore: bool = False
    qresync: QresyncArgs | None = None


@dataclass(frozen=True, slots=True)
class LoginArgs:
    username: bytes
    password: bytes


@dataclass(frozen=True, slots=True)
class AuthenticateArgs:
    """C{initialResponse} is the SASL-IR (RFC 4959) base64 text, or None."""

    mechanism: str
    initialResponse: bytes | None = None


@dataclass(frozen=True, slots=True)
class RenameArgs:
    old: bytes
    new: bytes


@dataclass(frozen=True, slots=True)
class ListArgs:
    """LIST and LSUB: the reference name and the pattern, as sent."""

    reference: bytes
    pattern: bytes


@dataclass(frozen=True, slots=True)
class StatusArgs:
    mailbox: bytes
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppendArgs:
    """C{flags} are already checked and spelled as the RFC spells system flags."""

    mailbox: bytes
    flags: tuple[str, ...]
    date: datetime | None
    message: bytes


@dataclass(frozen=True, slots=True)
class SearchArgs:
    charset: str | None
    criteria: SearchKey


@dataclass(frozen=True, slots=True)
class FetchArgs:
    """C{changedSince} and C{vanished}: the modifiers of RFC 7162 3.1.4 and 3.2.6."""

    sequenceSet: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    changedSince: int | None = None
    vanished: bool = False


@dataclass(frozen=True, slots=True)
class StoreArgs:
    """C{mode}: C{"+"} add, C{"-"} remove, C{""} replace; C{silent} for FLAGS.SILENT."""

    sequenceSet: SequenceSet
    mode: str
    silent: bool
    flags: tuple[str, ...]
    unchangedSince: int | None = None  # RFC 7162 3.1.3


@dataclass(frozen=True, slots=True)
class CopyArgs:
    """COPY and MOVE."""

    sequenceSet: SequenceSet
    mailbox: bytes


@dataclass(frozen=True, slots=True)
class ExpungeArgs:
    """C{sequenceSet} is the UID set of UID EXPUNGE (RFC 4315), None for EXPUNGE."""

    sequenceSet: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class EnableArgs:
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NotifyGroup:
    """
    One event group of NOTIFY SET (RFC 5465 3.1): C{filter} is SELECTED,
    SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES (with
    C{mailboxes}, as sent); C{events} the event names as spelled by the RFC (unknown
    ones as sent), empty for NONE; C{fetch} MessageNew's fetch attributes.
    """

    filter: str
    events: tuple[str, ...]
    mailboxes: tuple[bytes, ...] = ()
    fetch: tuple[FetchAttribute, ...] = ()


@dataclass(frozen=True, slots=True)
class NotifyArgs:
    """NOTIFY NONE (no groups) or NOTIFY SET [STATUS] groups."""

    groups: tuple[NotifyGroup, ...] = ()
    status: bool = False
    none: bool = False


CommandArgs = (MailboxArgs | SelectArgs | LoginArgs | AuthenticateArgs | RenameArgs
               | ListArgs | StatusArgs | AppendArgs | SearchArgs | FetchArgs | StoreArgs
               | CopyArgs | ExpungeArgs | EnableArgs | NotifyArgs | None)


@dataclass(frozen=True, slots=True)
class Command:
    """
    A parsed command. C{uid} is True for the UID forms; C{args} is the typed
    arguments of its family (None for commands without arguments).
    """

    tag: str
    name: str
    args: CommandArgs = None
    uid: bool = False


class _Reader:
    def __init__(self, data: bytes, tag: str = "*"):
        self.data = data
        self.pos = 0
        self.tag = tag

    def fail(self, what: str):
        raise ParseError(what, self.tag)

    def atEnd(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def expect(self, literal: bytes, what: str | None = None) -> None:
        if not self.data.startswith(literal, self.pos):
            self.fail(f"Expected {what or literal.decode()!s}")
        self.pos += len(literal)

    def sp(self) -> None:
        self.expect(b" ", "a space")

    def maybe(self, literal: bytes) -> bool:
        if self.data[self.pos:self.pos + len(literal)].upper() == literal.upper():
            self.pos += len(literal)
            return True
        return False

    def end(self) -> None:
        if not self.atEnd():
            self.fail("Unexpected extra arguments")

    def _run(self, specials) -> bytes:
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] not in specials:
            self.pos += 1
        return data[start:self.pos]

    def atom(self, specials=_ATOM_SPECIALS, what="an atom") -> str:
        word = self._run(specials)
        if not word:
            self.fail(f"Expected {what}")
        return word.decode("ascii", "replace")

    def number(self, what="a number") -> int:
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        if start == self.pos or self.pos - start > 10:
            self.fail(f"Expected {what}")
        value = int(self.data[start:self.pos])
        if value > 0xFFFFFFFF:
            self.fail(f"{what.capitalize()} out of range")
        return value

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                self.fail("Unterminated quoted string")
            c = data[self.pos]
            self.pos += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self.pos >= len(data) or data[self.pos] not in b'"\\':
                    self.fail("Bad escape in quoted string")
                c = data[self.pos]
                self.pos += 1
            elif c in (0x0D, 0x0A, 0x00):
                self.fail("Bad character in quoted string")
            out.append(c)

    def literal(self) -> bytes:
        m = _LITERAL.match(self.data, self.pos)
        if not m:
            self.fail("Expected a literal")
        start = m.end()
        size = int(m.group(1))
        if start + size > len(self.data):
            self.fail("Literal shorter than announced")
        self.pos = start + size
        return self.data[start:start + size]

    def string(self) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()
        self.fail("Expected a string")

    def astring(self, what="a string") -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        word = self._run(_ATOM_SPECIALS - {ord("]")})
        if not word:
            self.fail(f"Expected {what}")
        return word

    def listMailbox(self) -> bytes:
        c = self.peek()
        if c in (0x22, 0x7B):
            return self.string()
        word = self._run(_LIST_SPECIALS)
        if not word:
            self.fail("Expected a mailbox pattern")
        return word

    def modseq(self, what="a mod-sequence") -> int:
        """A mod-sequence-value (RFC 7162 7): up to 63 bits, 0 allowed (valzer)."""
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        if start == self.pos or self.pos - start > 19:
            self.fail(f"Expected {what}")
        value = int(self.data[start:self.pos])
        if value > MAX_MODSEQ:
            self.fail(f"{what.capitalize()} out of range")
        return value

    def sequenceSet(self) -> SequenceSet:
        ranges = []
        while True:
            lo = self._seqNumber()
            hi = lo
            if self.maybe(b":"):
                hi = self._seqNumber()
            ranges.append((lo, hi))
            if not self.maybe(b","):
                return SequenceSet(tuple(ranges))

    def _seqNumber(self) -> int | None:
        if self.maybe(b"*"):
            return None
        n = self.number("a sequence number")
        if n == 0:
            self.fail("Sequence numbers start at 1")
        return n

    def flagList(self) -> list[str]:
        self.expect(b"(", "a flag list")
        flags = []
        while not self.maybe(b")"):
            if flags:
                self.sp()
            flags.append(self.flag())
        return flags

    def flag(self) -> str:
        """
        A flag, one spelling each (RFC 3501 2.3.2: flags are case-insensitive): a system
        flag as the RFC spells it; an unknown C{\\Word} is refused rather than dropped.
        """
        if self.maybe(b"\\"):
            name = "\\" + self.asciiAtom("a flag name")
            flag = systemFlag(name)
            if flag is None:
                self.fail(f"Unknown system flag {name}")
            return flag
        return self.asciiAtom("a flag")

    def asciiAtom(self, what: str) -> str:
        """An atom of 7-bit characters (RFC 3501 9: ATOM-CHAR is a CHAR)."""
        word = self._run(_ATOM_SPECIALS)
        if not word:
            self.fail(f"Expected {what}")
        if max(word) >= 0x80:
            self.fail(f"{what.capitalize()} must be 7-bit ASCII")
        return word.decode("ascii")

    def dateTime(self) -> datetime:
        raw = self.quoted().decode("ascii", "replace")
        m = re.fullmatch(r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", raw)
        if not m:
            self.fail("Bad date-time")
        day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
        try:
            month = [x.lower() for x in _MONTHS].index(mon.lower()) + 1
            offset = timedelta(hours=int(zh), minutes=int(zm)) * (1 if sign == "+" else -1)
            return datetime(int(year), month, int(day), int(hh), int(mm), int(ss),
                            tzinfo=timezone(offset))
        except ValueError:
            self.fail("Bad date-time")

    def date(self) -> datetime:
        quoted = self.peek() == 0x22
        raw = self.quoted() if quoted else self._run(_ATOM_SPECIALS)
        m = re.fullmatch(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})", raw)
        if not m:
            self.fail("Bad date")
        try:
            month = [x.lower() for x in _MONTHS].index(m.group(2).decode().lower()) + 1
            return datetime(int(m.group(3)), month, int(m.group(1)), tzinfo=timezone.utc)
        except ValueError:
            self.fail("Bad date")


# --- per-command grammars -------------------------------------------------------

_NO_ARGS = {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "EXPUNGE",
            "IDLE", "UNSELECT", "NAMESPACE"}
_ONE_MAILBOX = {"CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE"}
_FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_FETCH = {"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                 "BODYSTRUCTURE", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ"}
_STATUS_ITEMS = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"}
#: RFC 7162 7: a mod-sequence-value is a positive 63-bit number.
MAX_MODSEQ = 2 ** 63 - 1


def parseTag(data: bytes) -> str:
    """The tag of a command line, or C{"*"} if it has none worth answering."""
    r = _Reader(data)
    word = r._run(_TAG_SPECIALS)
    return word.decode("ascii", "replace") if word and r.peek() == 0x20 else "*"


def parseCommand(data: bytes) -> Command:
    """
    Parse one whole command; raise L{ParseError} (with the tag where known).
    """
    r = _Reader(data)
    tagBytes = r._run(_TAG_SPECIALS)
    if not tagBytes:
        r.fail("Missing tag")
    r.tag = tagBytes.decode("ascii", "replace")
    r.sp()
    name = r.atom(what="a command name").upper()
    uid = False
    if name == "UID":
        r.sp()
        uid = True
        name = r.atom(what="a command after UID").upper()
        if name not in ("FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"):
            r.fail(f"UID {name} is not a command")
    grammar = _GRAMMARS.get(name)
    if grammar is None:
        r.fail(f"Unknown command {name}")
    args = grammar(r, uid)
    r.end()
    return Command(r.tag, name, args, uid)


def _noArgs(r: _Reader, uid: bool):
    return None


def _oneMailbox(r: _Reader, uid: bool):
    r.sp()
    return MailboxArgs(r.astring("a mailbox name"))


def _select(r: _Reader, uid: bool):
    """SELECT and EXAMINE with RFC 4466 parameters: CONDSTORE, QRESYNC (RFC 7162)."""
    r.sp()
    mailbox = r.astring("a mailbox name")
    if not r.maybe(b" "):
        return SelectArgs(mailbox)
    r.expect(b"(", "a list of select parameters")
    condstore, qresync, first = False, None, True
    while not r.maybe(b")"):
        if not first:
            r.sp()
        first = False
        name = r.atom(what="a select parameter").upper()
        if name == "CONDSTORE" and not condstore:
            condstore = True
        elif name == "QRESYNC" and qresync is None:
            r.sp()
            qresync = _qresync(r)
        else:
            r.fail(f"Unknown or repeated select parameter {name}")
    if first:
        r.fail("Expected select parameters")
    return SelectArgs(mailbox, condstore, qresync)


def _qresync(r: _Reader) -> QresyncArgs:
    # "(" uidvalidity SP mod-sequence-value [SP known-uids [SP seq-match-data]] ")"
    r.expect(b"(", "QRESYNC parameters")
    validity = r.number("a UIDVALIDITY")
    if validity == 0:
        r.fail("UIDVALIDITY is a positive number")
    r.sp()
    modseq = r.modseq()
    known = match = None
    if r.maybe(b" ") and r.peek() != 0x28:
        known = r.sequenceSet()
        r.maybe(b" ")
    if r.peek() == 0x28:
        r.pos += 1
        seqs = r.sequenceSet()
        r.sp()
        match = (seqs, r.sequenceSet())
        r.expect(b")")
    r.expect(b")")
    return QresyncArgs(validity, modseq, known, match)


def _login(r: _Reader, uid: bool):
    r.sp()
    user = r.astring("a user name")
    r.sp()
    return LoginArgs(user, r.astring("a password"))


def _authenticate(r: _Reader, uid: bool):
    r.sp()
    mechanism = r.atom(what="a mechanism").upper()
    if r.maybe(b" "):
        return AuthenticateArgs(mechanism, r.astring("an initial response"))
    return AuthenticateArgs(mechanism)


def _rename(r: _Reader, uid: bool):
    r.sp()
    old = r.astring("a mailbox name")
    r.sp()
    return RenameArgs(old, r.astring("a mailbox name"))


def _list(r: _Reader, uid: bool):
    r.sp()
    reference = r.astring("a reference name") if r.peek() != 0x22 else r.quoted()
    r.sp()
    return ListArgs(reference, r.listMailbox())


def _status(r: _Reader, uid: bool):
    r.sp()
    mailbox = r.astring("a mailbox name")
    r.sp()
    r.expect(b"(", "a list of status items")
    items = []
    while not r.maybe(b")"):
        if items:
            r.sp()
        item = r.atom(what="a status item").upper()
        if item not in _STATUS_ITEMS:
            r.fail(f"Unknown status item {item}")
        items.append(item)
    if not items:
        r.fail("Expected status items")
    return StatusArgs(mailbox, tuple(items))


def _append(r: _Reader, uid: bool):
    r.sp()
    mailbox = r.astring("a mailbox name")
    r.sp()
    flags: list[str] = []
    date = None
    if r.peek() == 0x28:
        flags = r.flagList()
        r.sp()
    if r.peek() == 0x22:
        date = r.dateTime()
        r.sp()
    return AppendArgs(mailbox, tuple(flags), date, r.literal())


def _search(r: _Reader, uid: bool):
    r.sp()
    charset = None
    if r.maybe(b"CHARSET "):
        # Any charset parses; the handler refuses those it cannot search with NO
        # [BADCHARSET] (RFC 3501 6.4.4), which a parse error (BAD) could not say.
        charset = r.astring("a charset").decode("ascii", "replace").upper()
        r.sp()
    keys = [_searchKey(r)]
    while r.maybe(b" "):
        keys.append(_searchKey(r))
    return SearchArgs(charset, keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys)))


_FLAG_KEYS = {"ANSWERED": r"\Answered", "DELETED": r"\Deleted", "DRAFT": r"\Draft",
              "FLAGGED": r"\Flagged", "SEEN": r"\Seen"}
_HEADER_KEYS = {"FROM", "TO", "CC", "BCC", "SUBJECT"}
_DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}


def _searchText(r: _Reader) -> str:
    return r.astring("a search string").decode("utf-8", "replace")


def _searchKey(r: _Reader, depth: int = 0) -> SearchKey:
    if depth > 50:
        r.fail("Search criteria nested too deep")
    c = r.peek()
    if c == 0x28:
        r.pos += 1
        keys = [_searchKey(r, depth + 1)]
        while not r.maybe(b")"):
            r.sp()
            keys.append(_searchKey(r, depth + 1))
        return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    if c is not None and (0x30 <= c <= 0x39 or c == 0x2A):
        return SearchKey("SEQ", (r.sequenceSet(),))
    word = r.atom(what="a search key").upper()
    if word == "ALL":
        return SearchKey("ALL")
    if word in _FLAG_KEYS:
        return SearchKey("FLAG", (_FLAG_KEYS[word], True))
    if word.startswith("UN") and word[2:] in _FLAG_KEYS:
        return SearchKey("FLAG", (_FLAG_KEYS[word[2:]], False))
    if word in ("KEYWORD", "UNKEYWORD"):
        r.sp()
        return SearchKey("FLAG", (r.asciiAtom("a keyword"), word == "KEYWORD"))
    if word in ("NEW", "OLD"):
        return SearchKey(word)
    if word == "RECENT":
        return SearchKey("RECENT", (True,))
    if word in _HEADER_KEYS:
        r.sp()
        return SearchKey("HEADER", (word, _searchText(r)))
    if word == "HEADER":
        r.sp()
        name = _headerName(r)
        r.sp()
        return SearchKey("HEADER", (name, _searchText(r)))
    if word in ("BODY", "TEXT"):
        r.sp()
        return SearchKey(word, (_searchText(r),))
    if word in _DATE_KEYS:
        r.sp()
        return SearchKey(word, (r.date(),))
    if word in ("LARGER", "SMALLER"):
        r.sp()
        return SearchKey(word, (r.number(),))
    if word == "UID":
        r.sp()
        return SearchKey("UID", (r.sequenceSet(),))
    if word == "MODSEQ":
        # RFC 7162 3.1.5: MODSEQ [entry-name SP entry-type-req] SP mod-sequence-valzer
        r.sp()
        entry = kind = None
        if r.peek() == 0x22:
            entry = r.quoted().decode("utf-8", "replace")
            r.sp()
            kind = r.atom(what="an entry type").lower()
            if kind not in ("priv", "shared", "all"):
                r.fail(f"Unknown entry type {kind}")
            r.sp()
        return SearchKey("MODSEQ", (r.modseq(), entry, kind))
    if word == "NOT":
        r.sp()
        return SearchKey("NOT", (_searchKey(r, depth + 1),))
    if word == "OR":
        r.sp()
        a = _searchKey(r, depth + 1)
        r.sp()
        return SearchKey("OR", (a, _searchKey(r, depth + 1)))
    r.fail(f"Unknown search key {word}")


def _fetch(r: _Reader, uid: bool):
    r.sp()
    seqs = r.sequenceSet()
    r.sp()
    atts: list[FetchAttribute] = []
    if r.peek() == 0x28:
        r.pos += 1
        while not r.maybe(b")"):
            if atts:
                r.sp()
            atts.append(_fetchAtt(r))
        if not atts:
            r.fail("Expected fetch items")
    else:
        save = r.pos
        word = r._run(_ATOM_SPECIALS | {ord("[")}).decode("ascii", "replace").upper()
        if word in _FETCH_MACROS:
            atts = [FetchAttribute(n) for n in _FETCH_MACROS[word]]
        else:
            r.pos = save
            atts = [_fetchAtt(r)]
    changedSince, vanished = None, False
    if r.maybe(b" "):
        # RFC 4466 fetch-modifiers: CHANGEDSINCE (RFC 7162 3.1.4), VANISHED (3.2.6)
        r.expect(b"(", "FETCH modifiers")
        while True:
            name = r.atom(what="a FETCH modifier").upper()
            if name == "CHANGEDSINCE" and changedSince is None:
                r.sp()
                changedSince = r.modseq()
            elif name == "VANISHED" and not vanished:
                vanished = True
            else:
                r.fail(f"Unknown or repeated FETCH modifier {name}")
            if r.maybe(b")"):
                break
            r.sp()
        if vanished and changedSince is None:
            r.fail("VANISHED needs CHANGEDSINCE")
    return FetchArgs(seqs, tuple(atts), changedSince, vanished)


def _fetchAtt(r: _Reader) -> FetchAttribute:
    word = r._run(_ATOM_SPECIALS | {ord("[")}).decode("ascii", "replace").upper()
    if word in _SIMPLE_FETCH:
        return FetchAttribute(word)
    if word in ("BODY", "BODY.PEEK"):
        if r.peek() != 0x5B:
            if word == "BODY":
                return FetchAttribute("BODY")
            r.fail("BODY.PEEK needs a section")
        r.pos += 1
        section = _section(r)
        r.expect(b"]")
        partial = None
        if r.maybe(b"<"):
            start = r.number("a partial start")
            r.expect(b".")
            length = r.number("a partial length")
            if length == 0:
                r.fail("Partial length must be positive")
            r.expect(b">")
            partial = (start, length)
        return FetchAttribute("BODY[]", section, word == "BODY.PEEK", partial)
    r.fail(f"Unknown fetch item {word or '(empty)'}")


def _headerName(r: _Reader) -> str:
    """A header field name, upper-cased: printable ASCII but ':' (RFC 5322 2.2)."""
    raw = r.astring("a header name")
    if not raw or any(b < 0x21 or b > 0x7E or b == 0x3A for b in raw):
        r.fail("Header names are printable ASCII without ':'")
    return raw.decode("ascii").upper()


def _section(r: _Reader) -> Section:
    part: list[int] = []
    while r.peek() is not None and 0x30 <= r.peek() <= 0x39:
        n = r.number("a part number")
        if n == 0:
            r.fail("Part numbers start at 1")
        part.append(n)
        if not r.maybe(b"."):
            return Section(tuple(part))
    if r.peek() == 0x5D:
        if part:
            r.fail("Bad section")
        return Section()
    text = r.atom(specials=_ATOM_SPECIALS | {ord("["), ord("]")}, what="a section").upper()
    if text in ("HEADER", "TEXT") or (text == "MIME" and part):
        return Section(tuple(part), text)
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        r.sp()
        r.expect(b"(", "a list of header names")
        names = []
        while not r.maybe(b")"):
            if names:
                r.sp()
            names.append(_headerName(r))
        if not names:
            r.fail("Expected header names")
        return Section(tuple(part), text, tuple(names))
    r.fail(f"Unknown section {text}")


def _store(r: _Reader, uid: bool):
    r.sp()
    seqs = r.sequenceSet()
    r.sp()
    unchangedSince = None
    if r.peek() == 0x28:
        # RFC 7162 3.1.3: STORE seq (UNCHANGEDSINCE n) flags
        r.pos += 1
        word = r.atom(what="a STORE modifier").upper()
        if word != "UNCHANGEDSINCE":
            r.fail(f"Unknown STORE modifier {word}")
        r.sp()
        unchangedSince = r.modseq()
        r.expect(b")")
        r.sp()
    mode = ""
    if r.peek() in (0x2B, 0x2D):
        mode = chr(r.peek())
        r.pos += 1
    item = r.atom(what="FLAGS").upper()
    if item not in ("FLAGS", "FLAGS.SILENT"):
        r.fail(f"Unknown store item {item}")
    r.sp()
    if r.peek() == 0x28:
        flags = r.flagList()
    else:
        flags = [r.flag()]
        while r.maybe(b" "):
            flags.append(r.flag())
    return StoreArgs(seqs, mode, item == "FLAGS.SILENT", tuple(flags), unchangedSince)


def _copy(r: _Reader, uid: bool):
    r.sp()
    seqs = r.sequenceSet()
    r.sp()
    return CopyArgs(seqs, r.astring("a mailbox name"))


def _expunge(r: _Reader, uid: bool):
    if not uid:
        return ExpungeArgs()
    r.sp()
    return ExpungeArgs(r.sequenceSet())


def _id(r: _Reader, uid: bool):
    # RFC 2971: ID ("name" "value" ...) or ID NIL; we only check the shape.
    r.sp()
    if r.maybe(b"NIL"):
        return None
    r.expect(b"(", "a parameter list or NIL")
    while not r.maybe(b")"):
        if r.peek() == 0x20:
            r.pos += 1
        if r.maybe(b"NIL"):
            continue
        r.string()
    return None


def _enable(r: _Reader, uid: bool):
    caps = []
    while r.maybe(b" "):
        caps.append(r.atom(what="a capability").upper())
    if not caps:
        r.fail("Expected a capability")
    return EnableArgs(tuple(caps))


# --- NOTIFY (RFC 5465 8) ------------------------------------------------------------

_NOTIFY_FILTERS = {"SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED",
                   "SUBTREE", "MAILBOXES"}
#: The events of RFC 5465 5, spelled as the RFC does (they are matched without case).
NOTIFY_EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
                 "MailboxName", "SubscriptionChange", "MailboxMetadataChange",
                 "ServerMetadataChange")
_EVENT_SPELLING = {e.upper(): e for e in NOTIFY_EVENTS}


def _notify(r: _Reader, uid: bool):
    r.sp()
    word = r.atom(what="SET or NONE").upper()
    if word == "NONE":
        return NotifyArgs(none=True)
    if word != "SET":
        r.fail("Expected SET or NONE")
    r.sp()
    status = False
    if r.peek() != 0x28:
        if r.atom(what="STATUS or an event group").upper() != "STATUS":
            r.fail("Expected STATUS or an event group")
        status = True
        r.sp()
    groups = [_notifyGroup(r)]
    while r.maybe(b" "):
        groups.append(_notifyGroup(r))
    return NotifyArgs(tuple(groups), status)


def _notifyGroup(r: _Reader) -> NotifyGroup:
    r.expect(b"(", "an event group")
    kind = r.atom(what="a mailbox filter").upper()
    if kind not in _NOTIFY_FILTERS:
        r.fail(f"Unknown mailbox filter {kind}")
    mailboxes: list[bytes] = []
    if kind in ("SUBTREE", "MAILBOXES"):
        r.sp()
        if r.maybe(b"("):
            while not r.maybe(b")"):
                if mailboxes:
                    r.sp()
                mailboxes.append(r.astring("a mailbox name"))
            if not mailboxes:
                r.fail("Expected mailbox names")
        else:
            mailboxes.append(r.astring("a mailbox name"))
    r.sp()
    events: list[str] = []
    fetch: list[FetchAttribute] = []
    if r.maybe(b"("):
        while not r.maybe(b")"):
            if events:
                r.sp()
            name = r.atom(what="an event")
            events.append(_EVENT_SPELLING.get(name.upper(), name))
            if events[-1] == "MessageNew" and r.data.startswith(b" (", r.pos):
                if kind not in ("SELECTED", "SELECTED-DELAYED"):
                    r.fail("MessageNew fetch attributes are for the selected mailbox only")
                r.pos += 2
                while not r.maybe(b")"):
                    if fetch:
                        r.sp()
                    fetch.append(_fetchAtt(r))
                if not fetch:
                    r.fail("Expected fetch attributes")
        if not events:
            r.fail("Expected events")
    elif r.atom(what="events or NONE").upper() != "NONE":
        r.fail("Expected events or NONE")
    r.expect(b")")
    return NotifyGroup(kind, tuple(events), tuple(mailboxes), tuple(fetch))


_GRAMMARS = {name: _noArgs for name in _NO_ARGS}
_GRAMMARS.update({name: _oneMailbox for name in _ONE_MAILBOX})
_GRAMMARS.update({
    "SELECT": _select, "EXAMINE": _select, "NOTIFY": _notify,
    "LOGIN": _login, "AUTHENTICATE": _authenticate, "RENAME": _rename,
    "LIST": _list, "LSUB": _list, "STATUS": _status, "APPEND": _append,
    "SEARCH": _search, "FETCH": _fetch, "STORE": _store, "COPY": _copy, "MOVE": _copy,
    "EXPUNGE": _expunge, "ID": _id, "ENABLE": _enable,
})
