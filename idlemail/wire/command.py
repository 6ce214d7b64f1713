"""
Parsing client commands (RFC 3501 section 9 grammar) into typed values.

Input is one whole command as the framer collected it: the command line without its
final CRLF, with each literal inline as C{{n}\\r\\n} or C{{n+}\\r\\n} followed by its
n octets. Nothing here knows sockets or Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.wire import (appendgrammar, listgrammar, notifygrammar, searchgrammar,
                           selectgrammar)
from idlemail.wire.appendgrammar import AppendArgs, AppendMessage, CatenatePart
from idlemail.wire.listgrammar import CreateArgs, ListArgs, StatusArgs
from idlemail.wire.notifygrammar import NotifyArgs
from idlemail.wire.message import Section
from idlemail.wire.reader import ATOM_SPECIALS, TAG_SPECIALS, ParseError, Reader, SequenceSet
from idlemail.wire.selectgrammar import SelectArgs
from idlemail.wire.searchgrammar import (
    SearchArgs,
    SearchKey,
    SortArgs,
    SortCriterion,
    ThreadArgs,
    headerName,
)

__all__ = ["ParseError", "SequenceSet", "FetchAttribute", "SearchKey", "Command", "parseCommand",
           "parseTag", "MailboxArgs", "CreateArgs", "LoginArgs", "AuthenticateArgs", "RenameArgs",
           "ListArgs", "StatusArgs", "AppendArgs", "AppendMessage", "CatenatePart", "SearchArgs",
           "SortArgs", "SortCriterion", "ThreadArgs", "FetchArgs", "StoreArgs", "CopyArgs",
           "ExpungeArgs", "EnableArgs"]


@dataclass(frozen=True, slots=True)
class FetchAttribute:
    """
    One FETCH data item: C{name} is FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE,
    BODYSTRUCTURE, BODY (the structure), RFC822, RFC822.HEADER, RFC822.TEXT, or
    BODY[...] (C{section} set; C{peek} for BODY.PEEK; C{partial} = (start, length)), or
    BINARY[...] and BINARY.SIZE[...] (RFC 3516: C{section} has only a part number).
    """

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


# --- typed arguments, one small class per command family ------------------------

@dataclass(frozen=True, slots=True)
class MailboxArgs:
    """SELECT, EXAMINE, CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE: one mailbox name as
    sent (modified UTF-7, RFC 3501 5.1.3)."""

    mailbox: bytes


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


CommandArgs = (MailboxArgs | SelectArgs | CreateArgs | LoginArgs | AuthenticateArgs
               | RenameArgs | ListArgs | StatusArgs | AppendArgs | SearchArgs | SortArgs
               | ThreadArgs | FetchArgs | StoreArgs | CopyArgs | ExpungeArgs | EnableArgs
               | NotifyArgs | None)


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


# --- per-command grammars -------------------------------------------------------

_NO_ARGS = {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "EXPUNGE",
            "IDLE", "UNSELECT", "NAMESPACE"}
_ONE_MAILBOX = {"DELETE", "SUBSCRIBE", "UNSUBSCRIBE"}
#: Commands that have a UID form (RFC 3501 6.4.8, RFC 4315, RFC 6851, RFC 5256).
_UID_COMMANDS = ("FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE", "SORT", "THREAD")
_FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_FETCH = {"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
                 "BODYSTRUCTURE", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ"}


def parseTag(data: bytes) -> str:
    """The tag of a command line, or C{"*"} if it has none worth answering."""
    r = Reader(data)
    word = r._run(TAG_SPECIALS)
    return word.decode("ascii", "replace") if word and r.peek() == 0x20 else "*"


def parseCommand(data: bytes) -> Command:
    """
    Parse one whole command; raise L{ParseError} (with the tag where known).
    """
    r = Reader(data)
    tagBytes = r._run(TAG_SPECIALS)
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
        if name not in _UID_COMMANDS:
            r.fail(f"UID {name} is not a command")
    grammar = _GRAMMARS.get(name)
    if grammar is None:
        r.fail(f"Unknown command {name}")
    args = grammar(r, uid)
    r.end()
    return Command(r.tag, name, args, uid)


def _noArgs(r: Reader, uid: bool):
    return None


def _oneMailbox(r: Reader, uid: bool):
    r.sp()
    return MailboxArgs(r.astring("a mailbox name"))


def _login(r: Reader, uid: bool):
    r.sp()
    user = r.astring("a user name")
    r.sp()
    return LoginArgs(user, r.astring("a password"))


def _authenticate(r: Reader, uid: bool):
    r.sp()
    mechanism = r.atom(what="a mechanism").upper()
    if r.maybe(b" "):
        return AuthenticateArgs(mechanism, r.astring("an initial response"))
    return AuthenticateArgs(mechanism)


def _rename(r: Reader, uid: bool):
    r.sp()
    old = r.astring("a mailbox name")
    r.sp()
    return RenameArgs(old, r.astring("a mailbox name"))


def _fetch(r: Reader, uid: bool):
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
        word = r._run(ATOM_SPECIALS | {ord("[")}).decode("ascii", "replace").upper()
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


def _fetchAtt(r: Reader) -> FetchAttribute:
    word = r._run(ATOM_SPECIALS | {ord("[")}).decode("ascii", "replace").upper()
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
        return FetchAttribute("BODY[]", section, word == "BODY.PEEK", _partial(r))
    if word in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        # RFC 3516 4.2: section-binary is a part number only, or nothing.
        r.expect(b"[", "a section")
        part: list[int] = []
        while not r.maybe(b"]"):
            if part:
                r.expect(b".")
            n = r.number("a part number")
            if n == 0:
                r.fail("Part numbers start at 1")
            part.append(n)
        section = Section(tuple(part))
        if word == "BINARY.SIZE":
            return FetchAttribute("BINARY.SIZE", section)
        return FetchAttribute("BINARY[]", section, word == "BINARY.PEEK", _partial(r))
    r.fail(f"Unknown fetch item {word or '(empty)'}")


def _partial(r: Reader) -> tuple[int, int] | None:
    if not r.maybe(b"<"):
        return None
    start = r.number("a partial start")
    r.expect(b".")
    length = r.number("a partial length")
    if length == 0:
        r.fail("Partial length must be positive")
    r.expect(b">")
    return (start, length)


def parseSectionSpec(spec: bytes) -> Section:
    """The section of C{BODY[spec]}: C{1.2.MIME}, C{HEADER.FIELDS (From)}, C{""}."""
    if not spec:
        return Section()
    r = Reader(spec)
    section = _section(r)
    r.end()
    return section


def _section(r: Reader) -> Section:
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
    text = r.atom(specials=ATOM_SPECIALS | {ord("["), ord("]")}, what="a section").upper()
    if text in ("HEADER", "TEXT") or (text == "MIME" and part):
        return Section(tuple(part), text)
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        r.sp()
        r.expect(b"(", "a list of header names")
        names = []
        while not r.maybe(b")"):
            if names:
                r.sp()
            names.append(headerName(r))
        if not names:
            r.fail("Expected header names")
        return Section(tuple(part), text, tuple(names))
    r.fail(f"Unknown section {text}")


def _store(r: Reader, uid: bool):
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


def _copy(r: Reader, uid: bool):
    r.sp()
    seqs = r.sequenceSet()
    r.sp()
    return CopyArgs(seqs, r.astring("a mailbox name"))


def _expunge(r: Reader, uid: bool):
    if not uid:
        return ExpungeArgs()
    r.sp()
    return ExpungeArgs(r.sequenceSet())


def _id(r: Reader, uid: bool):
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


def _enable(r: Reader, uid: bool):
    caps = []
    while r.maybe(b" "):
        caps.append(r.atom(what="a capability").upper())
    if not caps:
        r.fail("Expected a capability")
    return EnableArgs(tuple(caps))


_GRAMMARS = {name: _noArgs for name in _NO_ARGS}
_GRAMMARS.update({name: _oneMailbox for name in _ONE_MAILBOX})
_GRAMMARS.update({
    "LOGIN": _login, "AUTHENTICATE": _authenticate, "RENAME": _rename,
    "CREATE": listgrammar.create, "LIST": listgrammar.listCommand,
    "LSUB": listgrammar.lsubCommand, "STATUS": listgrammar.status,
    "APPEND": appendgrammar.append, "SEARCH": searchgrammar.search,
    "SORT": searchgrammar.sort, "THREAD": searchgrammar.thread, "FETCH": _fetch,
    "STORE": _store, "COPY": _copy, "MOVE": _copy, "EXPUNGE": _expunge, "ID": _id,
    "ENABLE": _enable, "SELECT": selectgrammar.select, "EXAMINE": selectgrammar.select,
    "NOTIFY": lambda r, uid: notifygrammar.notify(r, uid, _fetchAtt),
})
