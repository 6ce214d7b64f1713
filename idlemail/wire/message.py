"""
A parsed RFC 5322 / MIME message as FETCH sees it: sections, ENVELOPE and BODYSTRUCTURE.

Pure and Twisted-free. Parsing is lazy and byte-exact: section data is sliced out of the raw
message, never re-serialised, so `BODY[1.HEADER]` returns exactly the octets that were stored.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.header import decode_header, make_header

from idlemail.wire.encode import nstring, string


@dataclass(frozen=True)
class Section:
    """A FETCH body section, RFC 3501 6.4.5: part path, then an optional text specifier."""

    part: tuple = ()
    text: str | None = None  # None, HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple = ()  # upper-case header names for HEADER.FIELDS[.NOT]


def _splitHeader(raw: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line; the header keeps its terminating blank line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = raw.find(sep)
        if i >= 0 and (sep == b"\r\n\r\n" or raw.find(b"\r\n\r\n") < 0):
            return raw[: i + len(sep)], raw[i + len(sep):]
    if raw.startswith(b"\r\n"):
        return b"\r\n", raw[2:]
    return raw, b""


def _headerFields(header: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, raw octets including the line ending) for each field, unfolded order."""
    fields: list[tuple[str, bytes]] = []
    for line in header.splitlines(keepends=True):
        if line.strip() == b"":
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, data = fields[-1]
            fields[-1] = (name, data + line)
            continue
        name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
        fields.append((name, line))
    return fields


def _fieldValue(data: bytes) -> str:
    value = data.split(b":", 1)[1] if b":" in data else b""
    text = value.decode("utf-8", "replace")
    return " ".join(text.split())


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


class MessageStructure:
    """One MIME entity: its header, its body, and (for multipart and message/rfc822) children."""

    def __init__(self, raw: bytes, defaultType: str = "text/plain"):
        self.raw = raw
        self.headerBytes, self.bodyBytes = _splitHeader(raw)
        self.fields = _headerFields(self.headerBytes)
        ctype, self.typeParams = _params(self.rawHeader("content-type") or "")
        if "/" not in ctype:
            ctype = defaultType
        self.mainType, self.subType = ctype.split("/", 1)
        self._children: list[MessageStructure] | None = None

    @classmethod
    def parse(cls, raw: bytes) -> "MessageStructure":
        return cls(bytes(raw))

    # -- headers ---------------------------------------------------------------------------

    def rawHeader(self, name: str) -> str | None:
        name = name.lower()
        for k, data in self.fields:
            if k == name:
                return _fieldValue(data)
        return None

    def header(self, name: str) -> str | None:
        """The first field called `name`, RFC 2047 words decoded; None if absent."""
        value = self.rawHeader(name)
        if value is None:
            return None
        try:
            return str(make_header(decode_header(value)))
        except Exception:  # undecodable encoded-words: keep the raw text
            return value

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
        if self._children is None:
            self._children = self._parseChildren()
        return self._children

    def _parseChildren(self) -> list["MessageStructure"]:
        if self.isMessage:
            return [MessageStructure(self.bodyBytes)]
        if not self.isMultipart:
            return []
        boundary = self.typeParams.get("boundary")
        if not boundary:
            return []
        default = "message/rfc822" if self.subType == "digest" else "text/plain"
        delim = b"--" + boundary.encode("utf-8", "replace")
        body = self.bodyBytes
        parts: list[MessageStructure] = []
        # Locate delimiter lines: at the start of the body or after a line break.
        starts = []
        pos = 0
        while True:
            i = body.find(delim, pos)
            if i < 0:
                break
            if i == 0 or body[i - 1:i] == b"\n":
                lineEnd = body.find(b"\n", i)
                lineEnd = len(body) if lineEnd < 0 else lineEnd + 1
                closing = body[i + len(delim): i + len(delim) + 2] == b"--"
                begin = i - 2 if i >= 2 and body[i - 2:i] == b"\r\n" else (i - 1 if i >= 1 else i)
                starts.append((begin, lineEnd, closing))
                if closing:
                    break
                pos = lineEnd
            else:
                pos = i + len(delim)
        for (_, contentStart, closing), nxt in zip(starts, starts[1:] + [None]):
            if closing:
                break
            end = nxt[0] if nxt is not None else len(body)
            parts.append(MessageStructure(body[contentStart:end], default))
        return parts

    def _entity(self, path: tuple) -> "MessageStructure | None":
        node = self
        for n in path:
            # A message/rfc822 part's numbers address the parts of the message it holds.
            if node.isMessage:
                node = node.children()[0]
            kids = node.children()
            if not kids:
                if n == 1 and not node.isMultipart:
                    continue  # part 1 of a single-part message is its body, RFC 3501 6.4.5
                return None
            if n > len(kids):
                return None
            node = kids[n - 1]
        return node

    def section(self, section: Section) -> bytes | None:
        """The octets a BODY[section] names, or None if the part does not exist."""
        if not section.part:
            entity = self
        else:
            entity = self._entity(section.part)
            if entity is None:
                return None
        text = section.text
        if text is None:
            if not section.part:
                return self.raw
            if entity is self:  # BODY[1] of a single-part message
                return self.bodyBytes
            return entity.bodyBytes
        if text == "MIME":
            return entity.headerBytes
        target = entity
        if section.part and entity.isMessage:
            target = entity.children()[0]
        elif section.part and text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"):
            if not entity.isMessage and entity is not self:
                return None
        if text == "HEADER":
            return target.headerBytes
        if text == "TEXT":
            return target.bodyBytes
        wanted = {f.lower() for f in section.fields}
        keep = (lambda k: k in wanted) if text == "HEADER.FIELDS" else (lambda k: k not in wanted)
        return b"".join(data for k, data in target.fields if keep(k)) + b"\r\n"

    # -- ENVELOPE --------------------------------------------------------------------------

    def envelope(self) -> bytes:
        """RFC 3501 7.4.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc, ..."""
        fromList = self._addresses("from")
        sender = self._addresses("sender") or fromList
        replyTo = self._addresses("reply-to") or fromList
        items = [
            nstring(self.rawHeader("date")),
            nstring(self.rawHeader("subject")),
            fromList or b"NIL",
            sender or b"NIL",
            replyTo or b"NIL",
            self._addresses("to") or b"NIL",
            self._addresses("cc") or b"NIL",
            self._addresses("bcc") or b"NIL",
            nstring(self.rawHeader("in-reply-to")),
            nstring(self.rawHeader("message-id")),
        ]
        return b"(" + b" ".join(items) + b")"

    def _addresses(self, name: str) -> bytes | None:
        values = [_fieldValue(d) for k, d in self.fields if k == name]
        if not values:
            return None
        out = []
        for display, addr in email.utils.getaddresses(values):
            if not addr and not display:
                continue
            mailbox, _, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
            out.append(b"(" + b" ".join([nstring(display or None), b"NIL",
                                          nstring(mailbox or None), nstring(host or None)]) + b")")
        return b"(" + b"".join(out) + b")" if out else None

    # -- BODYSTRUCTURE ---------------------------------------------------------------------

    def bodystructure(self, extended: bool = True) -> bytes:
        """RFC 3501 7.4.2 BODY / BODYSTRUCTURE; `extended` adds the extension data."""
        if self.isMultipart:
            kids = self.children() or [MessageStructure(b"\r\n")]
            inner = b"".join(k.bodystructure(extended) for k in kids)
            out = inner + b" " + string(self.subType.upper())
            if extended:
                out += b" " + _plistOrNil({k: v for k, v in self.typeParams.items()})
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


def _lines(body: bytes) -> int:
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
