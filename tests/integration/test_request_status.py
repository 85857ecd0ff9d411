"""An attempt's state machine (`codegen_requests.status`) has one owner
(`app/tasks/request_status.py`): each status says what it means, the schema
allows exactly the enum's values, the one function that changes a status
refuses a move the table does not list, and no other module spells an
attempt's status as a string."""

from __future__ import annotations

import pytest

from app.tasks import requests_store as codegen_requests
from app.tasks.request_status import (
    ENDED,
    LATE,
    STOPPABLE,
    TRANSITIONS,
    UNMADE,
    WITHOUT_RUN,
    IllegalRequestMove,
    RequestStatus,
)
from tests.support import states

R = RequestStatus


def test_every_status_has_a_line_of_documentation():
    states.assert_documented("app/tasks/request_status.py", RequestStatus)


def test_the_sets_mean_what_their_names_say():
    assert UNMADE == {R.PREPARED, R.CREATING}
    assert STOPPABLE == set(RequestStatus) - {R.COMPLETE, R.FAILED, R.CANCELLED}
    assert LATE == {R.TIMED_OUT, R.COMPLETE}
    assert ENDED.isdisjoint(UNMADE | {R.RUNNING})
    assert ENDED | UNMADE | {R.RUNNING} == set(RequestStatus)


def test_every_status_is_reachable_and_a_made_run_is_never_made_again():
    assert set(TRANSITIONS) == set(RequestStatus)
    assert states.reachable(TRANSITIONS, R.PREPARED) == set(RequestStatus)
    for status in STOPPABLE:  # a cancel of the task stops the attempt
        assert R.CANCELLED in TRANSITIONS[status], status
    # Only an attempt whose run was never made (or stopped) is created again.
    creating = {s for s, targets in TRANSITIONS.items() if R.CREATING in targets}
    assert creating == WITHOUT_RUN == UNMADE | {R.FAILED, R.CANCELLED}
    for status in WITHOUT_RUN:  # and the deadline may pass before it is
        assert R.CANCELLED in TRANSITIONS[status], status


def test_a_retried_poll_may_record_its_ending_again():
    """The poll moves the attempt, then the task, in two transactions: its retry
    after a crash in between moves the attempt from the ending it recorded to
    the same one again, or to failed when Codegen refuses the retried look."""
    for ending in ENDED:
        assert ending in TRANSITIONS[ending], ending
        assert R.FAILED in TRANSITIONS[ending], ending
    assert R.COMPLETE in TRANSITIONS[R.TIMED_OUT]  # the run ended in between


async def test_the_enum_is_what_the_schema_allows(pool):
    assert await states.check_values(pool, "codegen_requests", "status") == {
        s.value for s in RequestStatus
    }


async def _new_request(pool) -> codegen_requests.CodegenRequest:
    task = await states.new_task(pool)
    request = await codegen_requests.prepare(
        pool, task_id=task.id, attempt=1, strategy=None, style="x", prompt="Do it.", context={}
    )
    assert request.status is R.PREPARED
    return request


async def test_an_illegal_move_raises_before_anything_is_written(pool):
    request = await _new_request(pool)
    with pytest.raises(IllegalRequestMove, match="from prepared to running"):
        await codegen_requests.move(pool, request.id, (R.PREPARED,), R.RUNNING, agent_run_id=5)
    with pytest.raises(IllegalRequestMove, match="from complete to cancelled"):
        await codegen_requests.move(pool, request.id, (R.RUNNING, R.COMPLETE), R.CANCELLED)
    with pytest.raises(ValueError, match="only by `move`"):
        await codegen_requests.update(pool, request.id, status=R.RUNNING)
    assert await codegen_requests.get(pool, request.task_id, 1) == request


async def test_listed_moves_happen_only_from_the_statuses_given(pool):
    request = await _new_request(pool)
    assert await codegen_requests.move(pool, request.id, UNMADE, R.CREATING)
    assert await codegen_requests.move(pool, request.id, (R.CREATING,), R.RUNNING, agent_run_id=9)
    running = await codegen_requests.get(pool, request.task_id, 1)
    assert running.status is R.RUNNING and running.agent_run_id == 9
    assert running.finished_at is None
    # A cancel got there first: the poll's ending does not overwrite it.
    assert await codegen_requests.move(pool, request.id, STOPPABLE, R.CANCELLED)
    assert not await codegen_requests.move(pool, request.id, (R.RUNNING,), R.COMPLETE)
    stopped = await codegen_requests.get(pool, request.task_id, 1)
    assert stopped.status is R.CANCELLED and stopped.finished_at is not None


# ------------------------------------------------------ no status spelled elsewhere

# Names the code gives an attempt (other objects with a `.status` go by other
# names). A status compared with an attempt's, given to the attempts store
# (`move`'s arguments, any `status=`), or gathered in a tuple, set, list or
# dict keys holding a status only attempts have, is spelled.
status_literals = states.LiteralFinder(
    values=states.values_of(RequestStatus),
    subject_names={"request", "previous", "latest"},
    store_names={"codegen_requests"},
    store_calls={"move"},
    store_keywords={"status"},
    distinctive={R.PREPARED.value, R.CREATING.value},  # no other state has these
)


def test_the_finder_sees_each_way_a_status_was_spelled():
    source = """
if request.status == "failed" or latest.status in ("running",):
    await codegen_requests.move(conn, 1, ("creating",), "running")
    await codegen_requests.update(conn, 1, status="cancelled")
RUN_STATE = {"prepared": "starting", "complete": "complete"}
if task.status == "failed" or followup.status in ("running", "complete"):
    await followups.move(conn, 1, ("running",), "failed")
"""
    assert status_literals(source) == [
        (2, "failed"),
        (2, "running"),
        (3, "creating"),
        (3, "running"),
        (4, "cancelled"),
        (5, "complete"),
        (5, "prepared"),
    ]


def test_no_attempt_status_is_spelled_outside_its_module():
    spelled = states.spelled_outside("app/tasks/request_status.py", status_literals)
    assert not spelled, spelled
