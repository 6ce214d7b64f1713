"""
Typed helpers for the commands a proxy sends on behalf of its own clients: LIST and LSUB,
mailbox management, APPEND with its message as a literal, UID STORE / COPY / MOVE /
EXPUNGE and UID FETCH of body sections. Each takes a connected, logged-in
L{IMAPClientProtocol} and returns what the server answered, typed; a NO or BAD fails
with L{IMAPCommandError} as any command does.

The response codes that carry results (RFC 4315 APPENDUID and COPYUID, which a MOVE sends
in an untagged OK before its EXPUNGEs, RFC 6851 3.3) are parsed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idlemail.client.protocol import IMAPClientProtocol, LiteralArgument, mailboxName
from idlemail.wire import response as R
from idlemail.wire.encode import dateTime

def uidSet(uids) -> bytes:
    """C{[1, 2, 3, 7]} -> C{b"1:3,7"} (RFC 3501 sequence-set, ascending ranges)."""
    out, run = [], None
    for uid in sorted(set(uids)):
        if run is not None and uid == run[1] + 1:
            run[1] = uid
            continue
        if run is not None:
            out.append(run)
        run = [uid, uid]
    if run is not None:
        out.append(run)
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in out)


def expandSet(text: str) -> list[int]:
    """C{"1:3,7"} -> C{[1, 2, 3, 7]} (a uid-set of a response code; bounded by the caller's
    own request, which it answers)."""
    out = []
    for first, last in R.uidRanges(text.encode("ascii")):
        out.extend(range(first, last + 1))
    return out


def flagArgument(flags) -> bytes:
    return b"(" + b" ".join(f.encode("ascii") for f in flags) + b")"


@dataclass(frozen=True)
class CopyResult:
    """COPYUID (RFC 4315): the destination's UIDVALIDITY and C{(source, dest)} UID pairs;
    C{uidValidity} None if the server did not say."""

    uidValidity: int | None
    pairs: tuple[tuple[int, int], ...]


def _copyUid(code) -> CopyResult | None:
    if not code or code[0] != "COPYUID" or len(code) < 2:
        return None
    try:
        validity, source, dest = str(code[1]).split()
        pairs = tuple(zip(expandSet(source), expandSet(dest)))
        return CopyResult(int(validity), pairs)
    except (ValueError, R.ResponseParseError):
        return None


async def listMailboxes(proto: IMAPClientProtocol, subscribed: bool = False,
                        pattern: str = "*") -> list[R.ListItem]:
    command = "LSUB" if subscribed else "LIST"
    result = await proto.sendCommand(command, b'""', mailboxName(pattern),
                                     collect=(R.ListItem,))
    return list(result.untagged)


async def hierarchyDelimiter(proto: IMAPClientProtocol) -> str | None:
    """The delimiter the server names in C{LIST "" ""} (RFC 3501 6.3.8), None if flat."""
    result = await proto.sendCommand("LIST", b'""', b'""', collect=(R.ListItem,))
    for item in result.untagged:
        return item.delimiter
    return None


async def mailboxCommand(proto: IMAPClientProtocol, command: str, *names: str) -> None:
    """CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE (one name) or RENAME (two)."""
    await proto.sendCommand(command, *(mailboxName(n) for n in names))


async def append(proto: IMAPClientProtocol, mailbox: str, message: bytes, flags=(),
                 date: datetime | None = None) -> tuple[int | None, int | None]:
    """APPEND; returns C{(uidValidity, uid)} from APPENDUID, or C{(None, None)}."""
    args = [mailboxName(mailbox)]
    if flags:
        args.append(flagArgument(flags))
    if date is not None:
        args.append(dateTime(date))
    args.append(LiteralArgument(message))
    result = await proto.sendCommand("APPEND", *args)
    code = result.tagged.code
    if code and code[0] == "APPENDUID" and len(code) > 1:
        try:
            validity, uid = str(code[1]).split()
            return int(validity), int(uid)
        except ValueError:
            pass
    return None, None


async def uidStore(proto: IMAPClientProtocol, uids, mode: str, flags) -> dict[int, tuple]:
    """UID STORE (not silent): returns uid -> the flags the server reported."""
    item = (mode + "FLAGS").encode()
    wanted = set(uids)
    result = await proto.sendCommand("UID STORE", uidSet(wanted), item, flagArgument(flags),
                                     collect=(R.Fetch,))
    return _flagsByUid(result.untagged, wanted)


async def uidFlags(proto: IMAPClientProtocol, uids) -> dict[int, tuple]:
    """UID FETCH (UID FLAGS) of C{uids}: uid -> flags for those that exist."""
    wanted = set(uids)
    result = await proto.sendCommand("UID FETCH", uidSet(wanted), b"(UID FLAGS)",
                                     collect=(R.Fetch,))
    return _flagsByUid(result.untagged, wanted)


def _flagsByUid(fetches, wanted) -> dict[int, tuple]:
    out = {}
    for r in fetches:
        uid, flags = r.items.get("UID"), r.items.get("FLAGS")
        if uid in wanted and flags is not None:
            out[uid] = flags
    return out


async def uidCopy(proto: IMAPClientProtocol, uids, mailbox: str,
                  move: bool = False) -> CopyResult | None:
    """UID COPY or UID MOVE; the COPYUID the server gave (tagged, or untagged for MOVE)."""
    result = await proto.sendCommand("UID MOVE" if move else "UID COPY", uidSet(uids),
                                     mailboxName(mailbox), collect=(R.Status,))
    found = _copyUid(result.tagged.code)
    for r in result.untagged:
        found = found or _copyUid(r.code)
    return found


async def uidSearch(proto: IMAPClientProtocol, criteria) -> list[int]:
    """UID SEARCH with C{criteria} (bytes, L{LiteralArgument}s, str atoms) as arguments."""
    result = await proto.sendCommand("UID SEARCH", *criteria, collect=(R.Search,))
    found: list[int] = []
    for r in result.untagged:
        found.extend(r.numbers)
    return found


async def expunge(proto: IMAPClientProtocol, uids=None) -> int:
    """UID EXPUNGE of C{uids} (RFC 4315), or EXPUNGE; returns how many were reported gone."""
    if uids is None:
        result = await proto.sendCommand("EXPUNGE", collect=(R.Expunge, R.Vanished))
    else:
        result = await proto.sendCommand("UID EXPUNGE", uidSet(uids),
                                         collect=(R.Expunge, R.Vanished))
    return sum(1 if isinstance(r, R.Expunge) else sum(b - a + 1 for a, b in r.ranges)
               for r in result.untagged)


async def uidFetchItems(proto: IMAPClientProtocol, uids, items: bytes) -> dict[int, dict]:
    """UID FETCH C{items} (a parenthesised list) of C{uids}: uid -> items."""
    result = await proto.sendCommand("UID FETCH", uidSet(uids), items, collect=(R.Fetch,))
    out: dict[int, dict] = {}
    wanted = set(uids)
    for r in result.untagged:
        uid = r.items.get("UID")
        if uid in wanted:
            out.setdefault(uid, {}).update(r.items)
    return out


def bodyItem(items: dict) -> bytes | None:
    """The octets of the one C{BODY[...]} item of a FETCH answer (NIL as b""), or None."""
    for key, value in items.items():
        if key.startswith("BODY["):
            return b"" if value is None else bytes(value)
    return None


def parseInternalDate(text) -> datetime | None:
    """C{"17-Jul-1996 02:44:25 -0700"} -> an aware datetime; None if it is not one."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    try:
        return datetime.strptime(str(text).strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}


def _headerName(name: str) -> bytes:
    data = name.encode("ascii")
    if data and not any(b in _ATOM_SPECIALS for b in data):
        return data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def bodyPeek(section, partial: tuple[int, int] | None = None) -> bytes:
    """C{BODY.PEEK[section]<start.length>} for a L{idlemail.wire.message.Section}."""
    spec = ".".join(str(n) for n in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
    item = b"BODY.PEEK[" + spec.encode("ascii")
    if section.fields:
        item += b" (" + b" ".join(_headerName(f) for f in section.fields) + b")"
    item += b"]"
    if partial is not None:
        item += b"<%d.%d>" % partial
    return item
