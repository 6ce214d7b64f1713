"""
The events of L{idlemail.events} as JSON, generic over their dataclass fields: a field
added to an event (a plain value, or a tuple, frozenset or pair of them) travels between
processes without a change here, and an envelope from a version with more fields or
more kinds of event still reads (unknown fields are ignored, an unknown kind means
"re-read the mailbox").

An event is C{[kind, first field, {other fields by name}]} spread over an envelope's
C{c}, C{d} and C{e} keys (see L{idlemail.bus.envelope}). Each field is encoded by its
type hint, with two compact forms, since a change may name thousands of messages:

- a field named C{uids} (C{tuple[int, ...]}): an RFC 4315 uid-set, C{"41:43,45"};
- pairs keyed by UID (C{tuple[tuple[int, T], ...]}, as L{FlagsChanged.flags}): grouped
  by value, C{[[value, uid-set], ...]}, so that flagging 1,000 messages is one group.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache

from idlemail import events

# Short codes of the kinds known when the wire form was made; a kind added later
# travels under its class name.
CODES = {events.MessagesAdded: "a", events.MessagesExpunged: "x", events.FlagsChanged: "f",
         events.KeywordsAdded: "k", events.MailboxReset: "z"}
REREAD = "r"
#: A uid-set from the bus may name at most this many UIDs (a bad peer must not make a
#: receiver build a list of 4 billion).
MAX_SET_UIDS = 1_000_000


class _Missing(Exception):
    """A field the event needs is not in the envelope (a sender of another version)."""


def encodeChange(change) -> tuple[str, object, dict | None]:
    """C{(kind, first field, other fields or None)} of an event; C{TypeError} if it is not
    one of L{idlemail.events}."""
    codec = _codecOf(type(change))
    kind = CODES.get(type(change), type(change).__name__)
    if not codec:
        return kind, None, None
    first = codec[0]
    # A field at its default is left out (the receiver takes the default): an event
    # without a MODSEQ travels as it did before events had one.
    rest = {}
    for name, encode, _, required in codec[1:]:
        value = getattr(change, name)
        if required or value != _defaultOf(type(change), name):
            rest[name] = encode(value)
    return kind, first[1](getattr(change, first[0])), rest or None


@cache
def _defaultOf(cls, name: str):
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def decodeChange(kind, first, rest):
    """The event C{encodeChange} gave these for, or None ("re-read the mailbox") for a
    kind this version does not know or that lacks a field it needs. C{ValueError} or
    C{TypeError} (one line) for data that is not what its kind says."""
    cls = _classOf(kind)
    if cls is None:
        return None
    if rest is not None and not isinstance(rest, dict):
        raise ValueError("the other fields are not an object")
    rest = rest or {}
    values = {}
    try:
        for i, (name, _, decode, required) in enumerate(_codecOf(cls)):
            present = first is not None if i == 0 else name in rest
            if not present:
                if required:
                    raise _Missing(name)
                continue
            values[name] = decode(first if i == 0 else rest[name])
    except _Missing:
        return None
    return cls(**values)


def _classOf(kind):
    for cls, code in CODES.items():
        if code == kind:
            return cls
    return _laterKinds().get(kind) if isinstance(kind, str) else None


@cache
def _laterKinds() -> dict[str, type]:
    return {cls.__name__: cls for cls in vars(events).values()
            if isinstance(cls, type) and dataclasses.is_dataclass(cls)
            and cls.__module__ == events.__name__}


@cache
def _codecOf(cls) -> tuple:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)
            and cls.__module__ == events.__name__):
        raise TypeError(f"not a mailbox event: {cls.__name__}")
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        encode, decode = _fieldCodec(f.name, hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append((f.name, encode, decode, required))
    return tuple(out)


# --- one codec per type hint ---------------------------------------------------------------
def _fieldCodec(name: str, hint):
    if name == "uids" and hint == tuple[int, ...]:
        return (lambda uids: uidSet(sorted(set(uids))),
                lambda text: tuple(parseUidSet(text)))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if typing.get_origin(item) is tuple and typing.get_args(item)[:1] == (int,) \
                and len(typing.get_args(item)) == 2:
            return _byUid(name, *_codec(name, typing.get_args(item)[1]))
    return _codec(name, hint)


def _codec(name: str, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (int, str, bool, float):
        return lambda v: v, _checked(name, hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            encode, decode = _codec(name, options[0])
            return ((lambda v: None if v is None else encode(v)),
                    (lambda v: None if v is None else decode(v)))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        encode, decode = _codec(name, args[0])
        return ((lambda v: [encode(x) for x in v]),
                (lambda v: tuple(decode(x) for x in _list(name, v))))
    if origin is tuple and args:
        codecs = [_codec(name, a) for a in args]
        return ((lambda v: [e(x) for (e, _), x in zip(codecs, v)]),
                (lambda v: tuple(d(x) for (_, d), x in zip(codecs, _list(name, v, len(codecs))))))
    if origin in (frozenset, set) and len(args) == 1:
        encode, decode = _codec(name, args[0])
        return ((lambda v: sorted(encode(x) for x in v)),
                (lambda v: frozenset(decode(x) for x in _list(name, v))))
    return lambda v: v, lambda v: v  # a hint this codec does not know: as JSON has it


def _byUid(name: str, encode, decode):
    def encodePairs(pairs):
        groups: dict = {}
        for uid, value in pairs:
            groups.setdefault(value, []).append(uid)
        return [[encode(value), uidSet(sorted(uids))] for value, uids in groups.items()]

    def decodePairs(groups):
        pairs = []
        for group in _list(name, groups):
            value, uids = _list(name, group, 2)
            value = decode(value)
            pairs.extend((uid, value) for uid in parseUidSet(uids))
        pairs.sort(key=lambda pair: pair[0])
        return tuple(pairs)
    return encodePairs, decodePairs


def _checked(name: str, kind):
    def check(v):
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
            raise TypeError(f"{name}: {v!r} is not a {kind.__name__}")
        return v
    return check


def _list(name: str, v, length: int | None = None) -> list:
    if not isinstance(v, list) or (length is not None and len(v) != length):
        raise TypeError(f"{name}: {v!r} is not a list" + (f" of {length}" if length else ""))
    return v


# --- RFC 4315 uid-sets ---------------------------------------------------------------------
def uidSet(uids) -> str:
    """Ascending UIDs as an RFC 4315 uid-set: C{[1, 2, 3, 7]} -> C{"1:3,7"}."""
    out = []
    start = prev = None
    for uid in uids:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


def parseUidSet(text) -> list[int]:
    """The ascending UIDs of an RFC 4315 uid-set; C{ValueError} if it is not one."""
    if not isinstance(text, str):
        raise ValueError("a uid-set is not a string")
    uids: list[int] = []
    if not text:
        return uids
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        first, last = int(lo), int(hi or lo)
        if not 0 < first <= last or last - first + len(uids) >= MAX_SET_UIDS:
            raise ValueError(f"bad range {part!r}")
        uids.extend(range(first, last + 1))
    if any(a >= b for a, b in zip(uids, uids[1:])):
        uids = sorted(set(uids))
    return uids
