"""
The threading algorithms of RFC 5256 3, on messages given directly, and the thread-list
syntax of RFC 5256 4.
"""

from idlemail.server.threadtree import Node, ReferencesThreader, orderedSubject, threadList


def tree(number, *children):
    node = Node(number)
    for child in children:
        child.parent = node
        node.children.append(child)
    return node


def test_thread_list_is_written_as_rfc5256_shows_it():
    # RFC 5256 4: "(2)(3 6 (4 23)(44 7 96))" and a dummy's "((3)(5))".
    threads = [tree(2), tree(3, tree(6, tree(4, tree(23)), tree(44, tree(7, tree(96))))),
               tree(None, tree(3), tree(5))]
    assert threadList(threads) == b"(2)(3 6 (4 23)(44 7 96))((3)(5))"


def test_a_very_deep_thread_costs_no_recursion():
    root = node = Node(1)
    for n in range(2, 5002):
        node = _child(node, n)
    assert threadList([root]) == b"(" + b" ".join(b"%d" % n for n in range(1, 5002)) + b")"


def _child(parent, n):
    child = Node(n)
    child.parent = parent
    parent.children.append(child)
    return child


def references(*messages):
    """(number, day, subject, isReply, id, refs) -> the THREAD response's list."""
    threader = ReferencesThreader()
    for number, day, subject, isReply, messageId, refs in messages:
        threader.add(number, (day, number), subject, isReply, messageId, refs)
    return threadList(threader.threads())


def test_references_link_by_references_then_in_reply_to():
    assert references(
        (1, 1, b"A", False, "a@x", ()),
        (2, 2, b"A", True, "b@x", ("a@x",)),
        (3, 3, b"A", True, "c@x", ("a@x", "b@x")),
        (4, 4, b"A", True, "d@x", ("a@x",)),
    ) == b"(1 (2 3)(4))"


def test_references_keep_a_dummy_at_the_top_only_for_several_children():
    # RFC 5256 3 (REFERENCES 3): a missing root with one reply is replaced by the reply;
    # with two, the dummy stays; a missing message in the middle is spliced out.
    assert references(
        (1, 1, b"ONE", False, "1@x", ("gone@x",)),
        (2, 2, b"TWO", False, "2@x", ("gone2@x",)),
        (3, 3, b"THREE", False, "3@x", ("gone2@x",)),
        (4, 4, b"FOUR", False, "4@x", ()),
        (5, 5, b"FIVE", False, "5@x", ("4@x", "gone3@x")),
    ) == b"(1)((2)(3))(4 5)"


def test_references_merge_threads_by_subject():
    # RFC 5256 3 (REFERENCES 5): a reply joins the thread of its subject; two threads of
    # the same subject, neither a reply, go under a dummy.
    assert references(
        (1, 1, b"HELLO", False, "1@x", ()),
        (2, 2, b"OTHER", False, "2@x", ()),
        (3, 3, b"OTHER", True, "3@x", ()),
        (4, 4, b"HELLO", False, "4@x", ()),
        (5, 5, b"", False, "5@x", ()),
        (6, 6, b"", False, "6@x", ()),
    ) == b"((1)(4))(2 3)(5)(6)"


def test_references_survive_loops_and_duplicate_ids():
    # A message may not become its own ancestor; a second message with an id already
    # used gets an id of its own (RFC 5256 3, REFERENCES 1.A).
    assert references(
        (1, 1, b"A", False, "a@x", ("b@x",)),
        (2, 2, b"B", False, "b@x", ("a@x",)),
        (3, 3, b"C", False, "a@x", ()),
        (4, 4, b"D", False, None, ("a@x",)),
    ) == b"(2 1 4)(3)"  # 2 would have been 1's child, but 1 was already 2's
    threader = ReferencesThreader()
    threader.add(1, (1, 1), b"A", False, "a@x", ("a@x",))
    assert threadList(threader.threads()) == b"(1)"


def test_ordered_subject_makes_one_level_per_subject():
    # RFC 5256 3 (ORDEREDSUBJECT): the first message is the parent of all the others.
    roots = orderedSubject([(1, (1, 1), b"A"), (2, (3, 2), b"B"), (3, (2, 3), b"A"),
                            (4, (0, 4), b"A"), (5, (4, 5), b"B"), (6, (5, 6), b"C"),
                            (7, (9, 7), b"D"), (8, (8, 8), b"D")])
    assert threadList(roots) == b"(4 (1)(3))(2 5)(6)(8 7)"
