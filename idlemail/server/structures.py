"""
The rendered ENVELOPE, BODYSTRUCTURE and BODY of recently fetched messages, and the header
fields SORT and THREAD compare (L{idlemail.server.sortfields}), shared by every session of
the process, so that a client that fetches the ENVELOPE of the same messages
again (they all do, on every resync) costs neither a read nor a parse.

A message's content never changes while its UID and the mailbox's UIDVALIDITY stand
(RFC 3501 2.3.1.1), so an entry is keyed by the mailbox's tracker (one per open mailbox),
the UIDVALIDITY and the UID, and is never stale. The cache is least-recently-used, bounded
by entries, by octets and by mailboxes (an entry holds its tracker alive, so the number of
trackers held is bounded too).

A message being read for its structure is read once however many FETCHes want it at
that moment (L{StructureCache.shared}): every session told of a new message by IDLE
fetches its ENVELOPE at about the same time.
"""

from __future__ import annotations

from collections import OrderedDict

from twisted.internet import defer
from twisted.python.failure import Failure

#: What an entry costs beyond its rendered octets (dict, key tuple, ints), roughly.
_ENTRY_OVERHEAD = 200


class StructureCache:
    def __init__(self, maxEntries: int = 20_000, maxBytes: int = 16 * 1024 * 1024,
                 maxMailboxes: int = 256):
        self.maxEntries, self.maxBytes, self.maxMailboxes = maxEntries, maxBytes, maxMailboxes
        self._boxes: OrderedDict[object, OrderedDict[tuple, dict]] = OrderedDict()
        self.entries = 0
        self.size = 0
        self._loading: dict[tuple, list[defer.Deferred]] = {}

    def shared(self, key: tuple, start) -> defer.Deferred:
        """
        What C{start()} (a Deferred) gives, shared by every caller with the same C{key}
        while it is under way: only the first caller starts it. Each caller gets its
        own Deferred, which fires (or fails) with the one result.
        """
        mine = defer.Deferred()
        waiting = self._loading.get(key)
        if waiting is not None:
            waiting.append(mine)
            return mine
        waiting = self._loading[key] = [mine]

        def done(result):
            del self._loading[key]
            for d in waiting:
                if isinstance(result, Failure):
                    d.errback(result)
                else:
                    d.callback(result)
        defer.maybeDeferred(start).addBoth(done)
        return mine

    def get(self, tracker, key: tuple) -> dict[str, bytes] | None:
        """The items cached for message C{key} (uidValidity, uid) of C{tracker}'s mailbox."""
        box = self._boxes.get(tracker)
        items = box.get(key) if box is not None else None
        if items is not None:
            box.move_to_end(key)
            self._boxes.move_to_end(tracker)
        return items

    def put(self, tracker, key: tuple, name: str, value) -> None:
        """Keep C{value}: rendered bytes, or any object with C{octets}, its rough size."""
        if _octets(value) * 16 > self.maxBytes:
            return  # one huge structure would push out everything else
        box = self._boxes.get(tracker)
        if box is None:
            box = self._boxes[tracker] = OrderedDict()
        else:
            self._boxes.move_to_end(tracker)
        items = box.get(key)
        if items is None:
            items = box[key] = {}
            self.entries += 1
            self.size += _ENTRY_OVERHEAD
        else:
            box.move_to_end(key)
        self.size += _octets(value) - _octets(items.get(name, b""))
        items[name] = value
        self._trim()

    def _trim(self) -> None:
        boxes = self._boxes
        while boxes and (self.entries > self.maxEntries or self.size > self.maxBytes
                         or len(boxes) > self.maxMailboxes):
            tracker, box = next(iter(boxes.items()))
            if len(boxes) > self.maxMailboxes:
                for items in box.values():
                    self._forget(items)
                del boxes[tracker]
                continue
            _, items = box.popitem(last=False)
            self._forget(items)
            if not box:
                del boxes[tracker]

    def _forget(self, items: dict) -> None:
        self.entries -= 1
        self.size -= _ENTRY_OVERHEAD + sum(_octets(v) for v in items.values())


def _octets(value) -> int:
    return len(value) if isinstance(value, (bytes, bytearray)) else value.octets
