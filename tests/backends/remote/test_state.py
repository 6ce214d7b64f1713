"""
MailboxState, the proxy's one view of an upstream mailbox: a new message is published once,
in UID order, never below one published before; what the proxy added itself is published at
once only when no message can be missing below it; an answer that still names a message
expunged through the proxy is old news, not a new message nor a changed mailbox.
"""

from __future__ import annotations

import pytest

from idlemail.backends.remote.state import Inconsistent, MailboxState


def stateWith(uids, uidNext=None) -> MailboxState:
    return MailboxState("INBOX", 7, uidNext, {uid: () for uid in uids})


def test_an_append_right_after_the_newest_published_is_published_at_once():
    state = stateWith([1, 2, 3])
    assert state.appended([(4, ["\\Seen"])])
    assert state.tracker.uids == [1, 2, 3, 4]
    assert state.whenKnown(4).called


def test_an_append_past_a_gap_waits_for_the_watcher_even_if_uidnext_skips_it():
    # The upstream's SELECT said UIDNEXT 5 with 1..3 listed: 4 may be numbered but not
    # shown yet. Publishing 5 now would leave no room for 4 in local sessions' views.
    state = stateWith([1, 2, 3], uidNext=5)
    assert not state.appended([(5, [])])
    known = state.whenKnown(5)
    assert state.tracker.uids == [1, 2, 3] and not known.called
    state.added([(4, ()), (5, ())])  # the watcher lists both, in order
    assert state.tracker.uids == [1, 2, 3, 4, 5] and known.called


def test_an_append_answered_after_its_message_was_published_and_expunged_is_done():
    state = stateWith([1, 2, 3])
    state.added([(4, ())])  # the watcher was first
    state.expunged([4], upstreamSaid=True)  # and someone expunged it already
    assert state.appended([(4, [])])
    assert state.whenKnown(4).called
    assert state.tracker.uids == [1, 2, 3]


@pytest.mark.parametrize("uid", [2, 3])
def test_a_late_answer_naming_a_message_expunged_through_the_proxy_is_not_news(uid):
    state = stateWith([1, 2, 3])
    state.expunged([uid])  # through the proxy: the watcher has not heard yet
    state.added([(uid, ("\\Deleted",))])  # its answer, sent before the expunge
    assert uid not in state.tracker.uids and state.resetReason is None
    state.expunged([uid], upstreamSaid=True)  # the echo; from now on it is unheard of
    with pytest.raises(Inconsistent):
        state.added([(uid, ())])


def test_a_listing_is_complete_only_below_the_uidnext_it_answered():
    state = stateWith([1, 2, 3])
    state.appended([(4, [])])  # appended after the upstream took the listing below
    state.resync({1: (), 3: ()}, horizon=4)
    assert state.tracker.uids == [1, 3, 4]  # 2 is gone; 4 is too new to be listed
    state.resync({1: (), 3: ()}, horizon=5)
    assert state.tracker.uids == [1, 3]
