"""
The grammars of the commands that search: SEARCH (RFC 3501 6.4.4) with its result options
(ESEARCH, RFC 4731; SAVE, RFC 5182), SORT and THREAD (RFC 5256) with SORT=DISPLAY's keys
(RFC 5957) and ESORT's result options (RFC 5267), and the search keys they share.
"""

from __future__ import annotations

from dataclasses import dataclass

from idlemail.wire.reader import Reader, SequenceSet


@dataclass(frozen=True, slots=True)
class SearchKey:
    """
    One node of a SEARCH criteria tree. C{op} is one of: ALL, AND (args: keys),
    OR (two keys), NOT (one key), SEQ / UID (a L{SequenceSet}, which may be C{$}),
    FLAG (flag, wanted: bool), RECENT (wanted), NEW, OLD, HEADER (name, text), BODY (text),
    TEXT (text), BEFORE / ON / SINCE and SENTBEFORE / SENTON / SENTSINCE (a date),
    LARGER / SMALLER (octets), MODSEQ (the least MODSEQ, then the entry name and type of
    RFC 7162's C{MODSEQ "/flags/\\seen" all 5} form, or None).
    """

    op: str
    args: tuple = ()


@dataclass(frozen=True, slots=True)
class SearchArgs:
    """C{returns}: the result options of C{SEARCH RETURN (...)} (RFC 4731), upper-case,
    in the order given; None for a plain SEARCH, whose answer is C{* SEARCH}."""

    charset: str | None
    criteria: SearchKey
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SortCriterion:
    key: str  # ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class SortArgs:
    """SORT (RFC 5256); C{returns} as for L{SearchArgs} (ESORT, RFC 5267)."""

    criteria: tuple[SortCriterion, ...]
    charset: str
    search: SearchKey
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ThreadArgs:
    algorithm: str  # ORDEREDSUBJECT or REFERENCES
    charset: str
    search: SearchKey


#: RFC 4731 result options, and RFC 5182's SAVE.
RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE")
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
                       "DISPLAYFROM", "DISPLAYTO"})
THREAD_ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")

_FLAG_KEYS = {"ANSWERED": r"\Answered", "DELETED": r"\Deleted", "DRAFT": r"\Draft",
              "FLAGGED": r"\Flagged", "SEEN": r"\Seen"}
_HEADER_KEYS = {"FROM", "TO", "CC", "BCC", "SUBJECT"}
_DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}


def search(r: Reader, uid: bool) -> SearchArgs:
    r.sp()
    returns = _returnOptions(r, RETURN_OPTIONS)
    charset = None
    if r.maybe(b"CHARSET "):
        # Any charset parses; the handler refuses those it cannot search with NO
        # [BADCHARSET] (RFC 3501 6.4.4), which a parse error (BAD) could not say.
        charset = _charset(r)
        r.sp()
    return SearchArgs(charset, criteria(r), returns)


def sort(r: Reader, uid: bool) -> SortArgs:
    r.sp()
    # ESORT (RFC 5267 3): SAVE is SEARCHRES's, which says nothing of SORT.
    returns = _returnOptions(r, RETURN_OPTIONS[:4])
    r.expect(b"(", "a list of sort criteria")
    keys: list[SortCriterion] = []
    while not r.maybe(b")"):
        if keys:
            r.sp()
        reverse = r.maybe(b"REVERSE ")
        key = r.atom(what="a sort key").upper()
        if key not in SORT_KEYS:
            r.fail(f"Unknown sort key {key}")
        keys.append(SortCriterion(key, reverse))
    if not keys:
        r.fail("Expected sort criteria")
    r.sp()
    charset = _charset(r)
    r.sp()
    return SortArgs(tuple(keys), charset, criteria(r), returns)


def thread(r: Reader, uid: bool) -> ThreadArgs:
    r.sp()
    algorithm = r.atom(what="a threading algorithm").upper()
    if algorithm not in THREAD_ALGORITHMS:
        r.fail(f"Unknown threading algorithm {algorithm}")
    r.sp()
    charset = _charset(r)
    r.sp()
    return ThreadArgs(algorithm, charset, criteria(r))


def _charset(r: Reader) -> str:
    return r.astring("a charset").decode("ascii", "replace").upper()


def _returnOptions(r: Reader, known) -> tuple[str, ...] | None:
    if not r.maybe(b"RETURN "):
        return None
    options = r.atomList(known, "result option")
    r.sp()
    return tuple(options)


def criteria(r: Reader) -> SearchKey:
    """One or more search keys to the end of the command, as one key."""
    keys = [searchKey(r)]
    while r.maybe(b" "):
        keys.append(searchKey(r))
    return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))


def _searchText(r: Reader) -> str:
    return r.astring("a search string").decode("utf-8", "replace")


def headerName(r: Reader) -> str:
    """A header field name, upper-cased: printable ASCII but ':' (RFC 5322 2.2)."""
    raw = r.astring("a header name")
    if not raw or any(b < 0x21 or b > 0x7E or b == 0x3A for b in raw):
        r.fail("Header names are printable ASCII without ':'")
    return raw.decode("ascii").upper()


def searchKey(r: Reader, depth: int = 0) -> SearchKey:
    if depth > 50:
        r.fail("Search criteria nested too deep")
    c = r.peek()
    if c == 0x28:
        r.pos += 1
        keys = [searchKey(r, depth + 1)]
        while not r.maybe(b")"):
            r.sp()
            keys.append(searchKey(r, depth + 1))
        return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    if c is not None and (0x30 <= c <= 0x39 or c in (0x2A, 0x24)):  # digit, *, $
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
        name = headerName(r)
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
        return SearchKey("NOT", (searchKey(r, depth + 1),))
    if word == "OR":
        r.sp()
        a = searchKey(r, depth + 1)
        r.sp()
        return SearchKey("OR", (a, searchKey(r, depth + 1)))
    r.fail(f"Unknown search key {word}")


__all__ = ["SearchKey", "SearchArgs", "SortCriterion", "SortArgs", "ThreadArgs", "SequenceSet",
           "search", "sort", "thread", "searchKey", "criteria", "headerName"]
