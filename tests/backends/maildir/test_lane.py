"""
A folder's lane: jobs one at a time in the disk threads, in order; results applied on
the reactor thread in the same order; a job that must wait gives its thread back; a hold
stops the lane at its place in the order.
"""

import threading

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.python.failure import Failure

from idlemail.backends.maildir.lane import Lane, Later
from idlemail.backends.maildir.pool import DiskPool


@pytest.fixture
def pool():
    made = DiskPool(reactor, 1)  # one thread: a lane that kept it would block the rest
    yield made
    made.stop()


@pytest_twisted.ensureDeferred
async def test_jobs_run_one_at_a_time_in_order_and_apply_in_order_on_the_reactor():
    lane = Lane(DiskPool(reactor, 4), reactor)
    running, ran, applied = [], [], []
    guard = threading.Lock()

    def job(n):
        def work():
            with guard:
                running.append(n)
                assert len(running) == 1, "two jobs of one lane at once"
            ran.append((n, threading.current_thread().name))
            with guard:
                running.remove(n)
            return n
        return work

    def apply(n):
        applied.append((n, threading.current_thread() is threading.main_thread()))
        return n * 10
    results = await defer.gatherResults([lane.submit(job(n), apply) for n in range(100)])
    lane.pool.stop()
    assert results == [n * 10 for n in range(100)]
    assert [n for n, _ in ran] == list(range(100))
    assert all(name.startswith("PoolThread-idlemail-maildir") for _, name in ran)
    assert applied == [(n, True) for n in range(100)]
    assert not lane.busy


@pytest_twisted.ensureDeferred
async def test_a_job_that_must_wait_gives_its_thread_back_and_keeps_its_place(pool):
    lane = Lane(pool, reactor)
    tries, order = [], []

    def waiting():
        tries.append(1)
        if len(tries) < 3:
            return Later(0.05)
        order.append("waited")
        return "done"
    first = lane.submit(waiting)
    second = lane.submit(lambda: order.append("second"))
    # The one thread is free while the lane waits: other work gets it.
    assert await pool.run(lambda: "other work") == "other work"
    assert order == []
    assert await first == "done"
    await second
    assert order == ["waited", "second"] and len(tries) == 3


@pytest_twisted.ensureDeferred
async def test_a_hold_stops_the_lane_at_its_place_until_released(pool):
    lane = Lane(pool, reactor)
    order = []
    lane.submit(lambda: order.append("before"))
    held = lane.hold()
    after = lane.submit(lambda: order.append("after"))
    release = await held
    assert order == ["before"]
    await pool.run(lambda: None)  # the lane waits without its thread
    assert order == ["before"] and not after.called
    release()
    await after
    assert order == ["before", "after"]


@pytest_twisted.ensureDeferred
async def test_a_failing_job_fails_its_deferred_and_the_lane_goes_on(pool):
    lane = Lane(pool, reactor)
    failing = lane.submit(lambda: 1 / 0)
    nextOne = lane.submit(lambda: "next")
    with pytest.raises(ZeroDivisionError):
        await failing
    assert await nextOne == "next"


@pytest_twisted.ensureDeferred
async def test_a_busy_lane_lets_another_lane_have_the_thread(pool):
    busy, other = Lane(pool, reactor), Lane(pool, reactor)
    order = []
    jobs = [busy.submit(lambda n=n: order.append(("busy", n))) for n in range(200)]
    jobs.append(other.submit(lambda: order.append(("other", 0))))
    await defer.gatherResults(jobs)
    assert order.index(("other", 0)) < 199  # not only after all of the busy lane's jobs


def grouping(calls):
    """A lane's group that runs each work in turn and records the groups it was given."""
    def group(works):
        calls.append(len(works))
        results = []
        for work in works:
            try:
                results.append(work())
            except ZeroDivisionError:
                results.append(Failure())
            if isinstance(results[-1], Later):
                break
        return results
    return group


@pytest_twisted.ensureDeferred
async def test_grouped_jobs_waiting_together_run_as_one_group_and_apply_in_order(pool):
    calls, applied = [], []
    lane = Lane(pool, reactor, grouping(calls))
    held = await lane.hold()  # the jobs below wait together
    jobs = [lane.submit(lambda n=n: n, lambda n: applied.append(n) or n, grouped=True)
            for n in range(5)]
    alone = lane.submit(lambda: "alone")
    last = lane.submit(lambda: 5, lambda n: applied.append(n) or n, grouped=True)
    held()
    assert await defer.gatherResults(jobs + [alone, last]) == [0, 1, 2, 3, 4, "alone", 5]
    assert calls == [5, 1]  # an ungrouped job ends a group
    assert applied == [0, 1, 2, 3, 4, 5]


@pytest_twisted.ensureDeferred
async def test_a_failing_job_of_a_group_fails_alone(pool):
    lane = Lane(pool, reactor, grouping([]))
    held = await lane.hold()
    jobs = [lane.submit(lambda: "before", grouped=True),
            lane.submit(lambda: 1 / 0, grouped=True),
            lane.submit(lambda: "after", grouped=True)]
    held()
    assert await jobs[0] == "before"
    with pytest.raises(ZeroDivisionError):
        await jobs[1]
    assert await jobs[2] == "after"


@pytest_twisted.ensureDeferred
async def test_a_job_of_a_group_that_must_wait_ends_the_group_and_keeps_its_place(pool):
    calls, order = [], []
    lane = Lane(pool, reactor, grouping(calls))
    tries = []

    def waiting():
        tries.append(1)
        if len(tries) < 2:
            return Later(0.05)
        order.append("waited")
        return "done"
    held = await lane.hold()
    first = lane.submit(lambda: order.append("first"), grouped=True)
    second = lane.submit(waiting, grouped=True)
    third = lane.submit(lambda: order.append("third"), grouped=True)
    held()
    await first
    assert order == ["first"] and not second.called  # the first did not wait for it
    assert await second == "done"
    await third
    assert order == ["first", "waited", "third"]
    assert calls == [3, 2]
