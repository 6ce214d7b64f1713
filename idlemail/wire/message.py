"""
A parsed RFC 5322 / MIME message as FETCH and SEARCH see it: sections, ENVELOPE and
BODYSTRUCTURE (RFC 3501 6.4.5, 7.4.2).

Pure and Twisted-free. Parsing is lazy and byte-exact: section data is sliced out of the raw
message, never re-serialised, so `BODY[1.HEADER]` returns exactly the octets that were stored.
Work is linear in the message: each header is scanned once, each multipart body once per
level, and MIME nesting deeper than L{MAX_DEPTH} is opaque data rather than recursion.
"""

from __future__ import annotations

import binascii
import codecs
import quopri
from dataclasses import dataclass
from email.header import decode_header

from idlemail.wire.addresses import Group, Mailbox, parseAddressList
from idlemail.wire.encode import nstring, string

#: Levels of multipart / message/rfc822 nesting parsed; a deeper entity is an opaque
#: application/octet-stream (real mail nests a handful of levels).
MAX_DEPTH = 100
# c-client's stand-in for an address without a domain: NIL would mark a group (RFC 3501 7.4.2).
_MISSING_HOST = ".MISSING-HOST-NAME."


@dataclass(frozen=True)
class Section:
    """A FETCH body section, RFC 3501 6.4.5: part path, then an optional text specifier."""

    part: tuple = ()
    text: str | None = None  # None, HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple = ()  # upper-case header names for HEADER.FIELDS[.NOT]


def _scanHeader(raw: bytes) -> tuple[int, int, list[tuple[str, bytes]]]:
    """
    Where the header ends (its blank line excluded, then included) and its fields as
    (lower-case name, raw octets with continuation lines and line endings).
    """
    fields: list[tuple[str, bytes]] = []
    pos, end, start = 0, len(raw), None  # start: where the field being read began
    name = ""
    while pos < end:
        if raw.startswith(b"\r\n", pos) or raw.startswith(b"\n", pos):
            blank = pos + (2 if raw[pos] == 0x0D else 1)
            break
        nl = raw.find(b"\n", pos)
        nxt = end if nl < 0 else nl + 1
        if raw[pos] not in (0x20, 0x09) or start is None:
            if start is not None:
                fields.append((name, raw[start:pos]))
            start = pos
            colon = raw.find(b":", pos, nxt)
            name = raw[pos:nxt if colon < 0 else colon].strip().decode("latin-1").lower()
        pos = nxt
    else:
        blank = pos
    if start is not None:
        fields.append((name, raw[start:pos]))
    return pos, blank, fields


def _unfold(data: bytes) -> str:
    """A field's value: after the colon, line breaks removed (RFC 5322 2.2.3), trimmed."""
    value = data.split(b":", 1)[1] if b":" in data else b""
    return value.replace(b"\r\n", b"").replace(b"\n", b"").decode("utf-8", "replace").strip()


def decodeWords(value: str) -> str:
    """RFC 2047 encoded words decoded; anything undecodable is kept as written."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:  # the email package raises a variety of errors on broken words
        return value
    out = []
    for data, charset in chunks:
        if isinstance(data, str):
            out.append(data)
        elif charset is None:
            out.append(data.decode("raw-unicode-escape", "replace"))
        else:
            out.append(_decodeText(data, charset))
    return "".join(out)


def _decodeText(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:  # an unknown charset: UTF-8 is the best guess
        return data.decode("utf-8", "replace")


def _params(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type-like value into its main value and its parameters."""
    parts = _splitParams(value)
    main = parts[0].strip().lower() if parts else ""
    params: dict[str, str] = {}
    for p in parts[1:]:
        if "=" not in p:
            continue
        k, v = p.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[k.strip().lower()] = v
    return main, params


def _splitParams(value: str) -> list[str]:
    out, cur, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            cur.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _plistOrNil(params: dict[str, str]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(string(k.upper()) + b" " + string(v) for k, v in params.items()) + b")"


def boundaryDelimiters(body: bytes, delim: bytes):
    """
    (start, contentStart, closing) for each boundary delimiter line of a multipart body
    (RFC 2046 5.1.1): at the start of a line, then "--" or only whitespace to the line's end.
    The line break before a delimiter belongs to it, so `start` is where that break begins.
    """
    pos = 0
    while True:
        i = body.find(delim, pos)
        if i < 0:
            return
        pos = i + len(delim)
        if i > 0 and body[i - 1] != 0x0A:
            continue
        lineEnd = body.find(b"\n", pos)
        lineEnd = len(body) if lineEnd < 0 else lineEnd + 1
        closing = body.startswith(b"--", pos)
        rest = body[pos + 2 if closing else pos:lineEnd]
        if rest.strip(b" \t\r\n"):
            continue  # a longer boundary that merely starts with this one
        start = i - 2 if i >= 2 and body[i - 2:i] == b"\r\n" else max(i - 1, 0)
        yield start, lineEnd, closing
        if closing:
            return
        pos = lineEnd


class MessageStructure:
    """One MIME entity: its header, its body, and (for multipart and message/rfc822) children."""

    def __init__(self, raw: bytes, defaultType: str = "text/plain", depth: int = 0):
        self.raw = raw
        self.depth = depth
        headerEnd, bodyStart, self.fields = _scanHeader(raw)
        self.headerBytes, self.bodyBytes = raw[:bodyStart], raw[bodyStart:]
        self._blankLine = raw[headerEnd:bodyStart]  # b"" when the header has no blank line
        ctype, self.typeParams = _params(self.rawHeader("content-type") or "")
        if "/" not in ctype:
            ctype = defaultType
        self.mainType, self.subType = (s.strip() for s in ctype.split("/", 1))
        if self.mainType == "multipart" and not self.typeParams.get("boundary"):
            # Without a boundary there are no parts: RFC 2045 5.2 says to read an unusable
            # Content-Type as text/plain, which keeps the body reachable as BODY[1].
            self.mainType, self.subType, self.typeParams = "text", "plain", {}
        if depth >= MAX_DEPTH and self.mainType in ("multipart", "message"):
            self.mainType, self.subType, self.typeParams = "application", "octet-stream", {}
        self._children: list[MessageStructure] | None = None

    @classmethod
    def parse(cls, raw: bytes) -> "MessageStructure":
        return cls(bytes(raw))

    # -- headers ---------------------------------------------------------------------------

    def rawHeaders(self, name: str) -> list[str]:
        """Every field called C{name}, unfolded, as written (encoded words left encoded)."""
        name = name.lower()
        return [_unfold(data) for k, data in self.fields if k == name]

    def rawHeader(self, name: str) -> str | None:
        name = name.lower()
        for k, data in self.fields:
            if k == name:
                return _unfold(data)
        return None

    def headers(self, name: str) -> list[str]:
        """Every field called C{name}, with RFC 2047 encoded words decoded."""
        return [decodeWords(v) for v in self.rawHeaders(name)]

    def header(self, name: str) -> str | None:
        """The first field called C{name}, RFC 2047 words decoded; None if absent."""
        value = self.rawHeader(name)
        return None if value is None else decodeWords(value)

    def headerText(self) -> str:
        """Every field as `Name: value`, unfolded and RFC 2047 decoded, one per line."""
        return "\n".join(f"{name}: {decodeWords(_unfold(data))}" for name, data in self.fields)

    def addresses(self, name: str) -> list[Mailbox | Group]:
        """The address list of every field called C{name} (From, To, ...), in order."""
        return [item for value in self.rawHeaders(name) for item in parseAddressList(value)]

    def text(self) -> bytes:
        return self.bodyBytes

    # -- structure -------------------------------------------------------------------------

    @property
    def isMultipart(self) -> bool:
        return self.mainType == "multipart"

    @property
    def isMessage(self) -> bool:
        return self.mainType == "message" and self.subType == "rfc822"

    def children(self) -> list["MessageStructure"]:
        """The parts of a multipart, or the one message a message/rfc822 part holds."""
        if self._children is None:
            self._children = self._parseChildren()
        return self._children

    def _parseChildren(self) -> list["MessageStructure"]:
        if self.isMessage:
            return [MessageStructure(self.bodyBytes, depth=self.depth + 1)]
        if not self.isMultipart:
            return []
        default = "message/rfc822" if self.subType == "digest" else "text/plain"
        delim = b"--" + self.typeParams["boundary"].encode("utf-8", "replace")
        body = self.bodyBytes
        marks = list(boundaryDelimiters(body, delim))
        parts = []
        # The preamble before the first delimiter and the epilogue after the closing one
        # belong to no part; an unclosed last part runs to the end of the body.
        for (_, contentStart, closing), nxt in zip(marks, marks[1:] + [None]):
            if closing:
                break
            end = nxt[0] if nxt is not None else len(body)
            parts.append(MessageStructure(body[contentStart:end], default, self.depth + 1))
        return parts

    def _part(self, path: tuple) -> "MessageStructure | None":
        """
        The entity a part number names (RFC 3501 6.4.5), or None if there is none. A
        message's part 1 is its body when it is not multipart; the numbers after a
        message/rfc822 part address the parts of the message it holds.
        """
        node, inMessage = self, True
        for i, n in enumerate(path):
            if node.isMultipart:
                kids = node.children()
                if not 1 <= n <= len(kids):
                    return None
                node = kids[n - 1]
            elif not (inMessage and n == 1):
                return None  # a leaf part has no subparts
            inMessage = i + 1 < len(path) and node.isMessage
            if inMessage:
                node = node.children()[0]
        return node

    def section(self, section: Section) -> bytes | None:
        """The octets a BODY[section] names, or None if the part does not exist."""
        if not section.part:
            entity = self
            if section.text is None:
                return self.raw
        else:
            entity = self._part(section.part)
            if entity is None:
                return None
            if section.text is None:
                return entity.bodyBytes
            if section.text == "MIME":
                return entity.headerBytes  # the part's own MIME header
            if not entity.isMessage:
                return None  # HEADER and TEXT are defined only for message/rfc822 parts
            entity = entity.children()[0]
        return entity._headerSection(section)

    def _headerSection(self, section: Section) -> bytes:
        text = section.text
        if text in ("HEADER", "MIME"):
            return self.headerBytes
        if text == "TEXT":
            return self.bodyBytes
        # HEADER.FIELDS[.NOT]: matching is case-insensitive but otherwise exact; the blank
        # line after the header is kept (unless the message has none).
        wanted = {f.lower() for f in section.fields}
        keep = text == "HEADER.FIELDS"
        return b"".join(data for k, data in self.fields if (k in wanted) == keep) + self._blankLine

    def leaves(self):
        """Every non-multipart entity, depth first; encapsulated messages are descended."""
        stack = [self]
        while stack:
            node = stack.pop()
            kids = node.children()
            if kids:
                stack.extend(reversed(kids))
            else:
                yield node

    def decodedText(self) -> str:
        """A text/* entity's body with its transfer encoding and charset undone."""
        encoding = (self.rawHeader("content-transfer-encoding") or "").strip().lower()
        data = self.bodyBytes
        try:
            if encoding == "base64":
                data = binascii.a2b_base64(data)
            elif encoding == "quoted-printable":
                data = quopri.decodestring(data)
        except (binascii.Error, ValueError):
            pass  # broken transfer encoding: search the octets as they are
        charset = self.typeParams.get("charset") or "utf-8"
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = "utf-8"
        return _decodeText(data, charset)

    # -- ENVELOPE --------------------------------------------------------------------------

    def envelope(self) -> bytes:
        """RFC 3501 7.4.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc, ..."""
        fromList = _addressList(self.addresses("from"))
        # Sender and Reply-To absent or empty default to From (RFC 3501 7.4.2).
        sender = _addressList(self.addresses("sender")) or fromList
        replyTo = _addressList(self.addresses("reply-to")) or fromList
        items = [
            nstring(self.rawHeader("date")),
            nstring(self.rawHeader("subject")),
            fromList or b"NIL",
            sender or b"NIL",
            replyTo or b"NIL",
            _addressList(self.addresses("to")) or b"NIL",
            _addressList(self.addresses("cc")) or b"NIL",
            _addressList(self.addresses("bcc")) or b"NIL",
            nstring(self.rawHeader("in-reply-to")),
            nstring(self.rawHeader("message-id")),
        ]
        return b"(" + b" ".join(items) + b")"

    # -- BODYSTRUCTURE ---------------------------------------------------------------------

    def bodystructure(self, extended: bool = True) -> bytes:
        """RFC 3501 7.4.2 BODY / BODYSTRUCTURE; `extended` adds the extension data."""
        if self.isMultipart:
            # A multipart without parts is invalid; show one empty text part, as Dovecot does.
            kids = self.children() or [MessageStructure(b"\r\n", depth=self.depth + 1)]
            inner = b"".join(k.bodystructure(extended) for k in kids)
            out = inner + b" " + string(self.subType.upper())
            if extended:
                out += b" " + _plistOrNil(self.typeParams)
                out += b" " + self._disposition() + b" " + self._language() + b" NIL"
            return b"(" + out + b")"
        params = dict(self.typeParams)
        if self.mainType == "text" and "charset" not in params:
            params["charset"] = "us-ascii"
        encoding = (self.rawHeader("content-transfer-encoding") or "7bit").strip().upper()
        fields = [
            string(self.mainType.upper()),
            string(self.subType.upper()),
            _plistOrNil(params),
            nstring(self.rawHeader("content-id")),
            nstring(self.rawHeader("content-description")),
            string(encoding),
            b"%d" % len(self.bodyBytes),
        ]
        if self.isMessage:
            # The envelope, body structure and line count of the encapsulated message.
            inner = self.children()[0]
            fields += [inner.envelope(), inner.bodystructure(extended),
                       b"%d" % _lines(self.bodyBytes)]
        elif self.mainType == "text":
            fields.append(b"%d" % _lines(self.bodyBytes))
        if extended:
            fields += [nstring(self.rawHeader("content-md5")), self._disposition(),
                       self._language(), b"NIL"]
        return b"(" + b" ".join(fields) + b")"

    def _disposition(self) -> bytes:
        value = self.rawHeader("content-disposition")
        if not value:
            return b"NIL"
        kind, params = _params(value)
        return b"(" + string(kind.upper() or "ATTACHMENT") + b" " + _plistOrNil(params) + b")"

    def _language(self) -> bytes:
        value = self.rawHeader("content-language")
        if not value:
            return b"NIL"
        langs = [v.strip() for v in value.split(",") if v.strip()]
        return b"(" + b" ".join(string(v) for v in langs) + b")"


def _address(m: Mailbox) -> bytes:
    host = _MISSING_HOST if m.domain is None else m.domain
    return b"(%s %s %s %s)" % (nstring(m.name), nstring(m.route), string(m.local), string(host))


def _addressList(items: list[Mailbox | Group]) -> bytes | None:
    """
    An ENVELOPE address list, or None when empty. A group is a start marker with the group
    name as mailbox and NIL host, its members, then (NIL NIL NIL NIL) (RFC 3501 7.4.2).
    """
    out = []
    for item in items:
        if isinstance(item, Group):
            out.append(b"(NIL NIL " + string(item.name) + b" NIL)")
            out.extend(_address(m) for m in item.members)
            out.append(b"(NIL NIL NIL NIL)")
        else:
            out.append(_address(item))
    return b"(" + b"".join(out) + b")" if out else None


def _lines(body: bytes) -> int:
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
