"""
The grammars of the mailbox commands that grew options: LIST with LIST-EXTENDED's
selection and return options and several patterns (RFC 5258), LIST-STATUS's
C{RETURN (STATUS (...))} (RFC 5819) and SPECIAL-USE's (RFC 6154); STATUS; and CREATE with
CREATE-SPECIAL-USE's C{(USE (...))} (RFC 6154 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.wire.reader import Reader

#: RFC 5258 3.1 selection options, with RFC 6154's SPECIAL-USE.
SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
#: RFC 5258 3.2 return options, RFC 5819 STATUS and RFC 6154 SPECIAL-USE.
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "STATUS", "SPECIAL-USE"})
STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                "HIGHESTMODSEQ")  # RFC 7162 3.1.10
#: RFC 6154 2: the special-use attributes, as spelt there.
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
_USE_BY_LOWER = {use.lower(): use for use in SPECIAL_USES}


@dataclass(frozen=True, slots=True)
class ListArgs:
    """
    LIST and LSUB: the reference name and the patterns, as sent. C{extended} is True when
    the LIST-EXTENDED syntax was used (options, a RETURN, or a list of patterns); the
    options are upper-case, and C{statusItems} are those of C{RETURN (STATUS (...))}.
    """

    reference: bytes
    patterns: tuple[bytes, ...]
    selection: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()
    statusItems: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True, slots=True)
class StatusArgs:
    mailbox: bytes
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateArgs:
    """C{uses}: the special-use attributes of C{CREATE name (USE (...))}, as RFC 6154 spells
    them (an unknown one as sent); None without a USE parameter."""

    mailbox: bytes
    uses: tuple[str, ...] | None = None


def listCommand(r: Reader, uid: bool) -> ListArgs:
    r.sp()
    extended = False
    selection: set[str] = set()
    if r.peek() == 0x28:
        extended = True
        selection = set(r.atomList(SELECTION_OPTIONS, "selection option"))
        r.sp()
        if "RECURSIVEMATCH" in selection and not selection & {"SUBSCRIBED", "SPECIAL-USE"}:
            # RFC 5258 3.1: it only modifies another option.
            r.fail("RECURSIVEMATCH needs another selection option")
    reference = r.astring("a reference name")
    r.sp()
    if r.peek() == 0x28:
        extended = True
        r.pos += 1
        patterns = [r.listMailbox()]
        while not r.maybe(b")"):
            r.sp()
            patterns.append(r.listMailbox())
    else:
        patterns = [r.listMailbox()]
    returns: set[str] = set()
    items: tuple[str, ...] = ()
    if r.maybe(b" RETURN "):
        extended = True
        returns, items = _returnOptions(r)
    return ListArgs(reference, tuple(patterns), frozenset(selection), frozenset(returns),
                    items, extended)


def lsubCommand(r: Reader, uid: bool) -> ListArgs:
    r.sp()
    reference = r.astring("a reference name")
    r.sp()
    return ListArgs(reference, (r.listMailbox(),))


def _returnOptions(r: Reader) -> tuple[set[str], tuple[str, ...]]:
    r.expect(b"(", "a list of return options")
    out: set[str] = set()
    items: tuple[str, ...] = ()
    while not r.maybe(b")"):
        if out:
            r.sp()
        word = r.atom(what="a return option").upper()
        if word not in RETURN_OPTIONS:
            r.fail(f"Unknown return option {word}")
        if word == "STATUS":
            r.sp()
            items = statusItems(r)
        out.add(word)
    return out, items


def statusItems(r: Reader) -> tuple[str, ...]:
    items = r.atomList(STATUS_ITEMS, "status item")
    if not items:
        r.fail("Expected status items")
    return tuple(items)


def status(r: Reader, uid: bool) -> StatusArgs:
    r.sp()
    mailbox = r.astring("a mailbox name")
    r.sp()
    return StatusArgs(mailbox, statusItems(r))


def create(r: Reader, uid: bool) -> CreateArgs:
    r.sp()
    mailbox = r.astring("a mailbox name")
    if not r.maybe(b" "):
        return CreateArgs(mailbox)
    r.expect(b"(", "CREATE parameters")
    uses = None
    while not r.maybe(b")"):
        if uses is not None:
            r.sp()
        word = r.atom(what="a CREATE parameter").upper()
        if word != "USE" or uses is not None:
            r.fail(f"Unknown CREATE parameter {word}")
        r.sp()
        r.expect(b"(", "a list of special-use attributes")
        found: list[str] = []
        while not r.maybe(b")"):
            if found:
                r.sp()
            r.expect(b"\\", "a special-use attribute")
            name = "\\" + r.asciiAtom("a special-use attribute")
            found.append(_USE_BY_LOWER.get(name.lower(), name))
        uses = tuple(found)
    return CreateArgs(mailbox, uses)
