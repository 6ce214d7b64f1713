"""
The per-session arithmetic of MailboxTracker / SessionTracker, as a table of cases.
"""

import pytest

from idlemail.events import FlagsChanged, KeywordsAdded, MessagesAdded, MessagesExpunged
from idlemail.tracker import MailboxTracker

A, X, F = MessagesAdded, MessagesExpunged, FlagsChanged


def flags(*pairs):
    return F(tuple((uid, frozenset(f)) for uid, f in pairs))


# (initial uids, events published after the session opened, what drain() says,
#  the session's view (uid per sequence number) after the drain)
CASES = {
    "nothing happens": ([1, 2, 3], [], [], [1, 2, 3]),
    "one append": ([1, 2], [A((3,))], [("EXISTS", 3), ("RECENT", 1)], [1, 2, 3]),
    "appends coalesce": ([], [A((1,)), A((2,)), A((3,))], [("EXISTS", 3), ("RECENT", 3)], [1, 2, 3]),
    "expunge in the middle": ([1, 2, 3], [X((2,))], [("EXPUNGE", 2)], [1, 3]),
    "expunges highest first": ([1, 2, 3, 4], [X((2, 3))], [("EXPUNGE", 3), ("EXPUNGE", 2)], [1, 4]),
    "expunge all": ([5, 6], [X((5,)), X((6,))], [("EXPUNGE", 2), ("EXPUNGE", 1)], []),
    "added then expunged unseen": ([1], [A((2,)), X((2,))], [], [1]),
    "expunge then add": ([1, 2], [X((1,)), A((3,))],
                         [("EXPUNGE", 1), ("EXISTS", 2), ("RECENT", 1)], [2, 3]),
    "flags": ([1, 2], [flags((2, {"\\Seen"}))], [("FETCH", 2, 2, frozenset({"\\Seen"}))], [1, 2]),
    "flags latest wins": ([1], [flags((1, {"a"})), flags((1, {"b"}))],
                          [("FETCH", 1, 1, frozenset({"b"}))], [1]),
    "flags of expunged dropped": ([1, 2], [flags((1, {"a"})), X((1,))], [("EXPUNGE", 1)], [2]),
    "unknown expunge ignored": ([1], [X((7,))], [], [1]),
}


@pytest.mark.parametrize("initial,events,told,view", CASES.values(), ids=list(CASES))
def test_drain(initial, events, told, view):
    mailbox = MailboxTracker(initial)
    session = mailbox.openSession()
    for event in events:
        mailbox.publish(event)
    assert session.drain() == told
    assert not session.hasPending()
    assert session.exists == len(view)
    assert [session.uidAt(n) for n in range(1, len(view) + 1)] == view
    assert session.uidsInView() == view
    assert [session.seqOf(uid) for uid in view] == list(range(1, len(view) + 1))


def test_numbers_hold_until_the_expunge_is_told():
    mailbox = MailboxTracker([10, 20, 30, 40])
    session = mailbox.openSession()
    mailbox.publish(X((20, 40)))
    mailbox.publish(A((50,)))
    # Nothing told yet: the old numbers stand.
    assert session.exists == 4
    assert [session.uidAt(n) for n in range(1, 5)] == [10, 20, 30, 40]
    assert session.isExpunged(20) and not session.isExpunged(30)
    # FETCH, STORE, SEARCH may not send EXPUNGE: the EXISTS goes out, numbers stay.
    assert session.drain(expunges=False) == [("EXISTS", 5), ("RECENT", 1)]
    assert session.uidsInView() == [10, 20, 30, 40, 50]
    assert session.drain() == [("EXPUNGE", 4), ("EXPUNGE", 2)]
    assert session.uidsInView() == [10, 30, 50]
    assert session.seqOf(50) == 3


def test_exists_never_goes_down():
    mailbox = MailboxTracker([1, 2, 3])
    session = mailbox.openSession()
    mailbox.publish(X((1, 2, 3)))
    mailbox.publish(A((4,)))
    # The three gone ones stay in the view until told, so the new one makes it 4.
    assert session.drain(expunges=False) == [("EXISTS", 4), ("RECENT", 1)]
    assert session.drain() == [("EXPUNGE", 3), ("EXPUNGE", 2), ("EXPUNGE", 1)]
    assert session.uidsInView() == [4] and session.exists == 1


def test_sessions_are_independent():
    mailbox = MailboxTracker([1, 2])
    a, b = mailbox.openSession(), mailbox.openSession()
    mailbox.publish(X((1,)))
    assert a.drain() == [("EXPUNGE", 1)]
    assert a.uidsInView() == [2]
    assert b.uidsInView() == [1, 2]
    mailbox.publish(A((3,)))
    assert b.drain() == [("EXPUNGE", 1), ("EXISTS", 2), ("RECENT", 0)]
    assert a.drain() == [("EXISTS", 2), ("RECENT", 1)]  # the first session claims it


def test_own_flag_changes_can_be_left_out():
    mailbox = MailboxTracker([1, 2])
    a, b = mailbox.openSession(), mailbox.openSession()
    mailbox.publish(flags((1, {"\\Seen"})), origin=a)
    mailbox.publish(flags((2, {"\\Seen"})), origin=b)
    assert a.drain(ownFlags=False) == [("FETCH", 2, 2, frozenset({"\\Seen"}))]
    assert len(b.drain()) == 2


def test_recent_goes_to_one_session_only():
    mailbox = MailboxTracker([1], recent=[1])
    a = mailbox.openSession()
    b = mailbox.openSession()
    examine = mailbox.openSession(readonly=True)
    assert a.recent == {1} and b.recent == set() and examine.recent == set()
    mailbox.publish(A((2,)))
    assert a.recent == {1, 2} and not b.recent and not examine.recent


def test_wake_is_called_and_closed_sessions_are_dropped():
    mailbox = MailboxTracker()
    woken = []
    session = mailbox.openSession(lambda: woken.append(1))
    emptied = []
    mailbox.onEmpty = emptied.append
    mailbox.publish(A((1,)))
    assert woken == [1]
    mailbox.closeSession(session)
    assert mailbox.sessions == [] and emptied == [mailbox]
    mailbox.publish(A((2,)))
    assert woken == [1]


def test_no_copy_of_the_uid_list_per_session():
    mailbox = MailboxTracker(range(1, 20001))
    sessions = [mailbox.openSession() for _ in range(100)]
    for s in sessions:
        assert all(getattr(s, slot, None) is not mailbox.uids or slot == "mailbox"
                   for slot in type(s).__slots__)
        assert s.exists == 20000


def test_a_wake_that_fails_does_not_stop_the_others():
    mailbox = MailboxTracker()
    woken = []

    def broken():
        raise RuntimeError("a bug in one session")
    mailbox.openSession(broken)
    mailbox.openSession(lambda: woken.append("second"))
    mailbox.publish(A((1,)))
    mailbox.publish(X((1,)))
    assert woken == ["second", "second"]


def test_new_keywords_are_told_first_once_whatever_their_case():
    mailbox = MailboxTracker([1], keywords=["$Old"])
    session = mailbox.openSession()
    mailbox.publish(KeywordsAdded(("$old",)))
    assert not session.hasPending()
    mailbox.publish(flags((1, {"$Old"})))
    mailbox.publish(KeywordsAdded(("$New", "$NEW")))
    assert mailbox.keywords == ("$Old", "$New")
    assert session.drain() == [("FLAGS", ("$Old", "$New")),
                               ("FETCH", 1, 1, frozenset({"$Old"}))]
    assert session.drain() == []
    assert mailbox.openSession().takeKeywords() is None  # a new session is up to date


def test_read_only_sessions_see_unclaimed_recent_and_never_claim_it():
    claimed = []
    mailbox = MailboxTracker([1, 2], recent=[2])
    mailbox.onClaim = claimed.append
    examine = mailbox.openSession(readonly=True)
    assert examine.recent == {2} and mailbox.recentCount == 1 and not mailbox.hasWriter
    mailbox.publish(A((3,)))  # nobody to claim it: recent for every read-only view
    assert examine.recent == {2, 3} and mailbox.recentCount == 2 and claimed == []
    select = mailbox.openSession()
    assert select.recent == {2, 3} and claimed == [[2, 3]]
    assert mailbox.recentCount == 0 and mailbox.hasWriter
    mailbox.publish(A((4,)))
    assert select.recent == {2, 3, 4} and claimed == [[2, 3], [4]]
    assert mailbox.openSession().recent == set()


def test_a_reset_ends_every_session_and_says_why():
    from idlemail.events import MailboxReset
    mailbox = MailboxTracker([1, 2])
    woken = []
    before = mailbox.openSession(lambda: woken.append("before"))
    mailbox.publish(MessagesAdded((3,)))
    mailbox.publish(MailboxReset("INBOX was replaced upstream"))
    assert woken == ["before", "before"]
    assert before.hasPending()
    # Nothing else: the view's numbers no longer mean anything.
    assert before.drain() == [("BYE", "INBOX was replaced upstream")]
    after = mailbox.openSession()  # a session that joins a reset mailbox ends too
    assert after.drain() == [("BYE", "INBOX was replaced upstream")]


def test_an_expunged_newest_uid_is_never_added_again_and_a_late_lower_one_is_reported():
    from twisted.logger import globalLogPublisher
    warnings = []
    globalLogPublisher.addObserver(warnings.append)
    try:
        mailbox = MailboxTracker(uids=[1, 2, 3])
        session = mailbox.openSession()
        mailbox.publish(MessagesExpunged((3,)))
        mailbox.publish(MessagesAdded((3,)))  # the newest UID came and went: not again
        assert mailbox.uids == [1, 2]
        mailbox.publish(MessagesAdded((5,)))
        mailbox.publish(MessagesAdded((5,)))  # told twice: normal, no warning
        mailbox.publish(MessagesAdded((4,)))  # below the newest and never held: out of order
        assert mailbox.uids == [1, 2, 5]
        assert session.drain()[:2] == [("EXPUNGE", 3), ("EXISTS", 3)]
    finally:
        globalLogPublisher.removeObserver(warnings.append)
    dropped = [w for w in warnings if "published out of order" in w.get("log_format", "")]
    assert [w["uids"] for w in dropped] == [[3], [4]]
