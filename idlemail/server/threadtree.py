"""
The threading algorithms of RFC 5256 3: ORDEREDSUBJECT and REFERENCES, and the thread-list
syntax of a THREAD response. Pure: messages go in as (number, fields, sent time) and trees
come out; nothing here reads mail or knows sessions.

Every walk over a tree is iterative, so a thread nested 20,000 deep costs no recursion.
"""

from __future__ import annotations

from itertools import count


class Node:
    """A message of a thread, or a dummy (C{number} None) standing for a message that is
    referred to but not there."""

    __slots__ = ("number", "date", "subject", "isReply", "parent", "children")

    def __init__(self, number=None, date=(0.0, 0), subject=b"", isReply=False):
        self.number, self.date = number, date
        self.subject, self.isReply = subject, isReply
        self.parent: Node | None = None
        self.children: list[Node] = []

    @property
    def dummy(self) -> bool:
        return self.number is None

    def sortDate(self):
        """RFC 5256 3 (REFERENCES 4, 6): a dummy sorts by its first child."""
        return self.children[0].date if self.dummy and self.children else self.date


def _postorder(roots):
    """Every node under C{roots}, children before their parent."""
    stack = [(node, False) for node in reversed(roots)]
    while stack:
        node, seen = stack.pop()
        if seen:
            yield node
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.children))


# --- ORDEREDSUBJECT ----------------------------------------------------------------

def orderedSubject(messages) -> list[Node]:
    """
    RFC 5256 3 (ORDEREDSUBJECT): sort by base subject then sent date; one thread per base
    subject, its first message the parent of all the others; threads in the order of
    their first messages' sent dates. C{messages}: (number, date key, subject key).
    """
    threads: dict[bytes, Node] = {}
    for number, date, subject in sorted(messages, key=lambda m: (m[2], m[1])):
        node = Node(number, date, subject)
        parent = threads.get(subject)
        if parent is None:
            threads[subject] = node
        else:
            node.parent = parent
            parent.children.append(node)
    return sorted(threads.values(), key=lambda n: n.date)


# --- REFERENCES ----------------------------------------------------------------------

class ReferencesThreader:
    """
    RFC 5256 3 (REFERENCES), after Jamie Zawinski's algorithm. Messages are added one at a
    time in mailbox order (step 1, the long part, can so be done in slices); L{threads}
    does steps 2 to 6.
    """

    def __init__(self):
        self.byId: dict[str, Node] = {}
        self._unique = count()

    def _container(self, messageId: str) -> Node:
        node = self.byId.get(messageId)
        if node is None:
            node = self.byId[messageId] = Node()  # a dummy until its message comes
        return node

    @staticmethod
    def _wouldLoop(parent: Node, child: Node) -> bool:
        """Is C{parent} C{child} itself or one of its descendants?"""
        node = parent
        while node is not None:
            if node is child:
                return True
            node = node.parent
        return False

    @staticmethod
    def _link(parent: Node, child: Node) -> None:
        child.parent = parent
        parent.children.append(child)

    @staticmethod
    def _unlink(child: Node) -> None:
        child.parent.children.remove(child)
        child.parent = None

    def add(self, number: int, date, subject: bytes, isReply: bool, messageId: str | None,
            references) -> None:
        # 1.A: a message without an id, or with an id an earlier message has, gets one of
        # its own.
        held = self.byId.get(messageId) if messageId is not None else None
        if messageId is None or (held is not None and not held.dummy):
            messageId = f"\0{next(self._unique)}"  # no real id has a NUL
        node = self._container(messageId)
        node.number, node.date, node.subject, node.isReply = number, date, subject, isReply
        # 1.A: each reference the parent of the next, unless it has one or that makes a loop.
        chain = [self._container(r) for r in references]
        for parent, child in zip(chain, chain[1:]):
            if child.parent is None and not self._wouldLoop(parent, child):
                self._link(parent, child)
        # 1.B: the last reference is this message's parent, whatever it had before.
        if node.parent is not None:
            self._unlink(node)
        if chain and not self._wouldLoop(chain[-1], node):
            self._link(chain[-1], node)

    def threads(self) -> list[Node]:
        # 2: the messages without a parent are the roots.
        roots = [node for node in self.byId.values() if node.parent is None]
        roots = _prune(roots)
        # 4: the roots by sent date, a dummy by its first child's.
        for node in roots:
            if node.dummy:
                node.children.sort(key=Node.sortDate)
        roots.sort(key=Node.sortDate)
        roots = _mergeSubjects(roots)
        # 6: every set of siblings by sent date, the youngest first.
        for node in _postorder(roots):
            node.children.sort(key=Node.sortDate)
        roots.sort(key=Node.sortDate)
        return roots


def _prune(roots: list[Node]) -> list[Node]:
    """
    RFC 5256 3 (REFERENCES 3): a dummy without children goes; one with children gives them
    to its own parent, except that at the top a dummy with several children stays.
    """
    for node in _postorder(roots):
        kept: list[Node] = []
        for child in node.children:
            if child.dummy:
                for grandchild in child.children:
                    grandchild.parent = node
                kept.extend(child.children)
            else:
                kept.append(child)
        node.children = kept
    out: list[Node] = []
    for node in roots:
        if node.dummy and len(node.children) < 2:
            for child in node.children:
                child.parent = None
            out.extend(node.children)
        else:
            out.append(node)
    return out


def _threadSubject(node: Node) -> bytes:
    return node.children[0].subject if node.dummy else node.subject


def _mergeSubjects(roots: list[Node]) -> list[Node]:
    """RFC 5256 3 (REFERENCES 5): threads whose roots have the same base subject become one."""
    table: dict[bytes, Node] = {}
    for node in roots:  # 5.B
        subject = _threadSubject(node)
        if not subject:
            continue
        held = table.get(subject)
        if held is None:
            table[subject] = node
        elif not held.dummy and (node.dummy or (held.isReply and not node.isReply)):
            table[subject] = node
    out = list(roots)
    gone: set[int] = set()
    for node in roots:  # 5.C
        subject = _threadSubject(node)
        if not subject:
            continue
        held = table[subject]
        if held is node:
            continue
        gone.add(id(node))
        if held.dummy and node.dummy:
            for child in node.children:
                child.parent = held
            held.children.extend(node.children)
        elif held.dummy or (node.isReply and not held.isReply):
            node.parent = held
            held.children.append(node)
        else:
            dummy = Node()
            out[out.index(held)] = dummy
            for child in (held, node):
                child.parent = dummy
                dummy.children.append(child)
            table[subject] = dummy
    return [node for node in out if id(node) not in gone]


# --- the response --------------------------------------------------------------------

def threadList(roots: list[Node]) -> bytes:
    """
    The threads as RFC 5256 4 writes them: C{(1 2 (3)(4 5))}: a message followed by its
    one child, or by each of its children in parentheses; a dummy only by its children.
    """
    out = bytearray()
    # A stack of what is left to write: nodes, and closing parentheses.
    stack: list = []
    for root in reversed(roots):
        stack.extend((b")", root, b"("))
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        node = item
        if not node.dummy:
            if out[-1:] not in (b"(", b""):
                out += b" "
            out += b"%d" % node.number
        kids = node.children
        if len(kids) == 1 and not node.dummy:
            stack.append(kids[0])
        elif kids:
            if not node.dummy:
                out += b" "
            for child in reversed(kids):
                stack.extend((b")", child, b"("))
    return bytes(out)
