"""The task state machine has one owner (`app/task_status.py`): each status
says what it means, the named sets mean what their names say, the schema
allows exactly the enum's values, the one function that changes a status
refuses a move the table does not list, and no other module spells a task
status as a string."""

from __future__ import annotations

import pytest

from app.tasks import store as tasks
from app.tasks.status import (
    ACTIVE,
    ATTEMPTS_OVER,
    FINAL,
    PR_STAGES,
    RETRYABLE,
    STOPPABLE,
    TRANSITIONS,
    WITH_AGENT,
    WORKING,
    IllegalTransition,
    TaskStatus,
)
from tests.support import states

S = TaskStatus


def test_every_status_has_a_line_of_documentation():
    states.assert_documented("app/tasks/status.py", TaskStatus)


def test_active_pr_stages_and_final_divide_the_statuses():
    assert ACTIVE.isdisjoint(PR_STAGES) and ACTIVE.isdisjoint(FINAL)
    assert PR_STAGES.isdisjoint(FINAL)
    assert ACTIVE | PR_STAGES | FINAL == set(TaskStatus)


def test_the_other_sets_are_made_of_those():
    # waiting for an edit, or for the REST API's task to be started, is not work
    assert WORKING == ACTIVE - {S.NEEDS_INFO, S.CREATED}
    assert ATTEMPTS_OVER == set(TaskStatus) - ACTIVE
    assert WITH_AGENT == (WORKING - {S.QUEUED}) | PR_STAGES
    assert STOPPABLE == ACTIVE | PR_STAGES
    assert RETRYABLE.isdisjoint(ACTIVE) and S.MERGED not in RETRYABLE
    assert RETRYABLE == (PR_STAGES | FINAL) - {S.MERGED}


def test_every_status_has_its_moves_listed_and_each_is_a_status():
    assert set(TRANSITIONS) == set(TaskStatus)
    for targets in TRANSITIONS.values():
        assert targets <= set(TaskStatus)


def test_a_final_status_is_left_only_by_a_retry_or_a_late_pull_request():
    assert {status: TRANSITIONS[status] for status in FINAL} == {
        S.MERGED: frozenset(),
        S.CLOSED: {S.GENERATING_PROMPT},
        S.FAILED: {S.GENERATING_PROMPT},
        S.CANCELLED: {S.GENERATING_PROMPT},
        # The run of a timed-out task is still watched: its late PR is taken,
        # and a cancel stops that watch.
        S.TIMED_OUT: {S.GENERATING_PROMPT, S.PR_OPEN, S.CANCELLED},
    }


def test_every_retryable_status_can_be_retried_and_no_other():
    retried = {status for status, targets in TRANSITIONS.items() if S.GENERATING_PROMPT in targets}
    # `running` goes back on its own when a failed run has retries left; a
    # `created` task's first attempt starts by the same move.
    assert retried == RETRYABLE | {S.QUEUED, S.RUNNING, S.CREATED}


def test_every_status_is_reachable_from_queued_and_every_one_can_end():
    # A task starts `queued` (a label, `/codegen run`) or `created` (the REST API).
    assert states.reachable(TRANSITIONS, S.QUEUED) == set(TaskStatus) - {S.CREATED}
    assert states.reachable(TRANSITIONS, S.CREATED) >= {S.GENERATING_PROMPT, S.CANCELLED}
    for status in TaskStatus:
        assert states.reachable(TRANSITIONS, status) & FINAL, status


async def test_the_enum_is_what_the_schema_allows(pool):
    assert await states.check_values(pool, "tasks", "status") == {s.value for s in TaskStatus}
    assert await states.index_values(pool, "tasks_one_active_per_issue") == {
        s.value for s in ACTIVE
    }


async def _new_task(pool) -> tasks.Task:
    task = await states.new_task(pool)
    assert task.status == S.QUEUED
    return task


async def test_an_illegal_move_raises_before_anything_is_written(pool):
    task = await _new_task(pool)
    with pytest.raises(IllegalTransition, match="from queued to merged"):
        await tasks.transition(pool, task.id, from_status=(S.QUEUED,), to_status=S.MERGED)
    # One illegal status among those given is enough: each is checked.
    with pytest.raises(IllegalTransition, match="from needs_info to generating_prompt"):
        await tasks.transition(
            pool, task.id, from_status=(S.QUEUED, S.NEEDS_INFO), to_status=S.GENERATING_PROMPT
        )
    after = await tasks.get(pool, task.id)
    assert after == task  # not even `updated_at` moved


async def test_a_listed_move_still_happens(pool):
    task = await _new_task(pool)
    moved = await tasks.transition(
        pool, task.id, from_status=(S.QUEUED,), to_status=S.GENERATING_PROMPT
    )
    assert moved is not None and moved.status is S.GENERATING_PROMPT
    assert moved.finished_at is None
    ended = await tasks.transition(
        pool, task.id, from_status=WORKING, to_status=S.FAILED, detail="boom"
    )
    assert ended is not None and ended.status is S.FAILED and ended.finished_at is not None


# ------------------------------------------------------ no status spelled elsewhere

# Names the code gives a task (other objects with a `.status` go by other names);
# functions whose arguments are task statuses, and their keywords. A status
# compared with a task's, given to one of these, or gathered in a tuple, set or
# list, or as the keys of a dict, of task statuses only, is spelled.
status_literals = states.LiteralFinder(
    values=states.values_of(TaskStatus),
    subject_names={"task", "current", "active", "moved", "newest", "latest", "stopped"},
    status_calls={"transition", "cancel", "_finish", "follow_verdict"},
    status_keywords={"from_status", "to_status"},
)


def test_the_finder_sees_each_way_a_status_was_spelled():
    source = """
if task.status == "queued" or current.status in ("running", "failed"):
    await tasks.transition(conn, 1, from_status=("needs_info",), to_status="queued")
    await _finish(runtime, gh, task.id, "timed_out", None)
WORKING = ("queued", "generating_prompt", "running")
HEADLINE = {"merged": "Merged", "closed": "Closed"}
if followup.status == "failed" or request.status in ("prepared", "running"):
    pairs = (("passed", "passed"), ("failed", "failed"))
"""
    assert status_literals(source) == [
        (2, "failed"),
        (2, "queued"),
        (2, "running"),
        (3, "needs_info"),
        (3, "queued"),
        (4, "timed_out"),
        (5, "generating_prompt"),
        (5, "queued"),
        (5, "running"),
        (6, "closed"),
        (6, "merged"),
    ]


def test_no_task_status_is_spelled_outside_its_module():
    spelled = states.spelled_outside("app/tasks/status.py", status_literals)
    assert not spelled, spelled
