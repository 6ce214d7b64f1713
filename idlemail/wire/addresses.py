"""
RFC 5322 address lists (section 3.4, with the obsolete forms of 4.4): mailboxes, groups and
source routes, as ENVELOPE (RFC 3501 7.4.2) and SEARCH FROM/TO/CC/BCC need them.

Lenient like a mail reader, never raising, and linear in the input: one regular-expression
scan makes the tokens, then a single pass over them builds the list. Comments are dropped
from the address parts; a comment after an address is its display name when it has none,
as RFC 822 mail commonly wrote it (`user@domain (Real Name)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

# Tokens of RFC 5322 3.2, each with the whitespace before it: a run of atext, dots and "@"
# (an addr-spec is usually one token, which keeps long lists fast), a quoted string, a domain
# literal (an unterminated one runs to the end), a comment opener, or one other special.
_TOKEN = re.compile(r"""
    [ \t\r\n]*
    (?:
        (?P<atom>[^ \t\r\n()<>\[\]:;,"\\]+)
      | (?P<quoted>"(?:[^"\\]+|\\.)*"?)
      | (?P<literal>\[(?:[^\[\]\\]+|\\.)*\]?)
      | (?P<comment>\()
      | (?P<special>.)
    )
""", re.VERBOSE | re.DOTALL)
_COMMENT_STOP = re.compile(r"[()\\]")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# A bound on the work one header can cause: far more tokens than any list of addresses a
# person reads (a 1 MB To: of 40,000 addresses is about 240,000); the rest is ignored.
MAX_TOKENS = 300_000


@dataclass(frozen=True, slots=True)
class Mailbox:
    """
    One address. C{name} is the display name as written (quoted strings unquoted, encoded
    words left encoded), C{route} the obsolete source route (C{"@a,@b"}), C{local} the local
    part (a quoted local part keeps its quotes, so C{local@domain} is a valid address) and
    C{domain} None when the address has none.
    """

    name: str | None
    route: str | None
    local: str
    domain: str | None

    @property
    def address(self) -> str:
        return self.local if self.domain is None else f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Group:
    """RFC 5322 group syntax: `name: member, member;` (members may be none)."""

    name: str
    members: tuple[Mailbox, ...]


class _Token(NamedTuple):
    kind: str  # atom, quoted, literal, comment, or the special character itself
    text: str  # quoted strings and comments unescaped; otherwise as written
    raw: str
    spaced: bool  # whitespace or a comment came before it


def _unescape(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    append = out.append
    pos, afterComment = 0, False
    while pos < len(text) and len(out) < MAX_TOKENS:
        for m in _TOKEN.finditer(text, pos):
            kind = m.lastgroup
            spaced = afterComment or m.start(kind) > m.start()
            afterComment = False
            if kind == "comment":
                start = m.start(kind)
                pos = _commentEnd(text, start)
                inner = text[start + 1:pos - 1 if text[pos - 1] == ")" else pos]
                append(_Token(kind, " ".join(_unescape(inner).split()), "", spaced))
                afterComment = True
                break  # go on after the comment
            raw = m.group(kind)
            if kind == "quoted":
                body = raw[1:-1] if len(raw) > 1 and raw[-1] == '"' else raw[1:]
                append(_Token(kind, _unescape(body), raw, spaced))
            else:
                append(_Token(raw if kind == "special" else kind, raw, raw, spaced))
            if len(out) >= MAX_TOKENS:
                break
        else:
            break  # the text is used up
    return out


def _commentEnd(text: str, start: int) -> int:
    """Index just past the comment opened at C{start}; comments nest (RFC 5322 3.2.2)."""
    depth, pos = 0, start
    while True:
        m = _COMMENT_STOP.search(text, pos)
        if m is None:
            return len(text)  # unterminated: the comment runs to the end
        c = m.group()
        if c == "\\":
            pos = m.end() + 1
            continue
        depth += 1 if c == "(" else -1
        pos = m.end()
        if depth == 0:
            return pos


def parseAddressList(text: str) -> list[Mailbox | Group]:
    """The mailboxes and groups of an address-list header value (unfolded)."""
    result: list[Mailbox | Group] = []
    group: str | None = None
    members: list[Mailbox] = []
    entry: list[_Token] = []
    angle = 0

    def finish():
        mailbox = _mailbox(entry) if entry else None
        entry.clear()
        if mailbox is not None:
            (members if group is not None else result).append(mailbox)

    for tok in _tokens(text):
        kind = tok.kind
        if kind == "atom" or kind == "quoted" or angle:
            if kind == "<":
                angle += 1
            elif kind == ">":
                angle -= 1
            entry.append(tok)
        elif kind == "," or (kind == ";" and group is None):
            finish()
        elif kind == ":" and group is None:
            group = _phrase(t for t in entry if t.kind != "comment") or ""
            entry.clear()
        elif kind == ";":
            finish()
            result.append(Group(group, tuple(members)))
            group, members = None, []
        else:
            if kind == "<":
                angle += 1
            entry.append(tok)
    finish()
    if group is not None:  # a group missing its ";" still ends with the header
        result.append(Group(group, tuple(members)))
    return result


def _phrase(tokens) -> str | None:
    """A display name: words and quoted strings, one space where the source had any."""
    out: list[str] = []
    for tok in tokens:
        if out and tok.spaced:
            out.append(" ")
        out.append(tok.text)
    return "".join(out) or None


def _joined(tokens) -> str:
    """A local part, domain or route without its whitespace and comments (RFC 5322 4.4)."""
    return "".join(t.raw for t in tokens if t.kind != "comment")


def _glued(before: _Token, after: _Token) -> bool:
    """Whether two tokens belong to one addr-spec (obs-local-part allows CFWS around dots)."""
    return (not after.spaced or after.raw[:1] in ".@" or before.raw[-1:] in ".@"
            or after.kind == "literal")


def _mailbox(entry: list[_Token]) -> Mailbox | None:
    if len(entry) == 1 and entry[0].kind == "atom":  # the common bare addr-spec, fast
        local, _, domain = entry[0].raw.rpartition("@")
        if local:
            return Mailbox(None, None, local, domain or None)
    words = [t for t in entry if t.kind != "comment"]
    if not words:
        return None
    opener = next((i for i, t in enumerate(words) if t.kind == "<"), None)
    route = None
    if opener is not None:
        closer = next((i for i in range(opener + 1, len(words)) if words[i].kind == ">"),
                      len(words))
        name = _phrase(words[:opener])
        inner = words[opener + 1:closer]
        colon = next((i for i, t in enumerate(inner) if t.kind == ":"), None)
        if colon is not None:  # obs-route: "@a,@b:" before the addr-spec
            route, inner = _joined(inner[:colon]) or None, inner[colon + 1:]
        local, domain = _addrSpec(inner)
        last = words[min(closer, len(words) - 1)]
    else:
        at = next((i for i in range(len(words) - 1, -1, -1)
                   if words[i].kind == "atom" and "@" in words[i].raw), None)
        if at is None:  # no domain: a bare local part (`postmaster`), kept as written
            name, local, domain = None, " ".join(t.raw for t in words), None
            last = words[-1]
        else:
            # The addr-spec is the run of glued tokens around "@"; words before it are a
            # display name written without angle brackets.
            start = end = at
            while start > 0 and _glued(words[start - 1], words[start]):
                start -= 1
            while end < len(words) - 1 and _glued(words[end], words[end + 1]):
                end += 1
            name = _phrase(words[:start])
            local, domain = _addrSpec(words[start:end + 1])
            last = words[end]
    if not local and name is None:
        return None  # "<>" and the like name nobody
    if name is None:
        name = _trailingComment(entry, last)
    return Mailbox(name, route, local, domain)


def _addrSpec(tokens: list[_Token]) -> tuple[str, str | None]:
    """Local part and domain, split at the last "@" outside quotes and literals."""
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        if tok.kind == "atom" and "@" in tok.raw:
            head, _, tail = tok.raw.rpartition("@")
            local = _joined(tokens[:i]) + head
            return local, (tail + _joined(tokens[i + 1:])) or None
    return _joined(tokens), None


def _trailingComment(entry: list[_Token], last: _Token) -> str | None:
    """The first non-empty comment after the address ends, used as its display name."""
    seen = False
    for tok in entry:
        if tok is last:
            seen = True
        elif seen and tok.kind == "comment" and tok.text:
            return tok.text
    return None
