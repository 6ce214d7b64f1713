"""
SEARCH criteria made independent of the session before a backend searches them itself:
message numbers, C{*} and \\Recent become UID sets of the session's view.
"""

from idlemail.events import MessagesAdded, MessagesExpunged
from idlemail.server.searchuids import resolveSearch
from idlemail.tracker import MailboxTracker
from idlemail.wire.command import SearchKey, SequenceSet, parseCommand


def criteria(text: bytes) -> SearchKey:
    return parseCommand(b"t SEARCH " + text).args.criteria


def uids(*ranges) -> SearchKey:
    return SearchKey("UID", (SequenceSet(tuple(ranges)),))


def view():
    """UIDs 10, 20, 30, 40 told; 20 expunged but not yet told; 50 not yet told; 40 and
    50 recent."""
    mailbox = MailboxTracker([10, 20, 30])
    session = mailbox.openSession()
    mailbox.publish(MessagesAdded((40,)))
    session.drain()
    mailbox.publish(MessagesExpunged((20,)))
    mailbox.publish(MessagesAdded((50,)))
    return session, session.uidsInView()


def test_message_numbers_become_the_uids_at_them_in_this_view():
    session, inView = view()
    assert inView == [10, 20, 30, 40]
    assert resolveSearch(criteria(b"2:3"), session, inView) == uids((20, 20), (30, 30))
    assert resolveSearch(criteria(b"3:*"), session, inView) == uids((30, 30), (40, 40))
    assert resolveSearch(criteria(b"9"), session, inView) == uids()


def test_star_in_a_uid_set_is_the_highest_uid_in_view():
    session, inView = view()
    assert resolveSearch(criteria(b"UID 25:*"), session, inView) == uids((25, 40))
    assert resolveSearch(criteria(b"UID 99:*"), session, inView) == uids((40, 99))


def test_recent_new_and_old_become_this_sessions_recent_uids():
    session, inView = view()
    assert session.recent == {40, 50}  # 50 is not in this view yet: not searched
    recent = uids((40, 40))
    assert resolveSearch(criteria(b"RECENT"), session, inView) == recent
    assert resolveSearch(criteria(b"NEW"), session, inView) == SearchKey(
        "AND", (recent, SearchKey("FLAG", ("\\Seen", False))))
    assert resolveSearch(criteria(b"NOT OLD"), session, inView) == SearchKey(
        "NOT", (SearchKey("NOT", (recent,)),))


def test_keys_about_the_messages_themselves_are_left_as_they_are():
    session, inView = view()
    key = criteria(b"OR SUBJECT report (SEEN LARGER 100)")
    assert resolveSearch(key, session, inView) == key
