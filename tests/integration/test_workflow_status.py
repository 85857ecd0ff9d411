"""A task's workflow record has one owner for its statuses
(`app/tasks/workflow_status.py`): each says what it means, the schema allows
exactly the record's values, the one function that ends a record refuses an
ending the table does not list and keeps the first one, and no other module
gives the record's functions a status spelled as a string."""

from __future__ import annotations

import orjson
import pytest

from app.tasks import workflows_store as workflows
from app.tasks.workflow_status import (
    ENDINGS,
    TRANSITIONS,
    IllegalWorkflowMove,
    StepStatus,
    WorkflowStatus,
)
from tests.support import states

W = WorkflowStatus


@pytest.mark.parametrize("enum", [WorkflowStatus, StepStatus])
def test_every_status_has_a_line_of_documentation(enum):
    states.assert_documented("app/tasks/workflow_status.py", enum, words=2)


def test_a_record_ends_once_from_running():
    assert set(TRANSITIONS) == set(WorkflowStatus)
    assert ENDINGS == set(WorkflowStatus) - {W.RUNNING}
    assert all(not TRANSITIONS[ending] for ending in ENDINGS)


async def test_the_enum_is_what_the_schema_allows(pool):
    assert await states.check_values(pool, "workflow_executions", "status") == {
        s.value for s in WorkflowStatus
    }


async def _record(pool) -> int:
    task = await states.new_task(pool)
    await workflows.start(pool, task.id)
    return task.id


async def _row(pool, task_id: int):
    return await pool.fetchrow(
        "SELECT status, steps::text AS steps FROM workflow_executions WHERE task_id = $1", task_id
    )


async def test_steps_start_pending_and_take_step_statuses(pool):
    task_id = await _record(pool)
    await workflows.step(pool, task_id, "validate_task", StepStatus.COMPLETED)
    steps = orjson.loads((await _row(pool, task_id))["steps"])
    assert {s["status"] for s in steps} == {StepStatus.PENDING, StepStatus.COMPLETED}
    assert {s["status"] for s in steps} <= {s.value for s in StepStatus}


async def test_an_ending_not_listed_raises_and_the_first_ending_stands(pool):
    task_id = await _record(pool)
    with pytest.raises(IllegalWorkflowMove, match="from running to running"):
        await workflows.finish(pool, task_id, W.RUNNING)
    assert (await _row(pool, task_id))["status"] == W.RUNNING
    await workflows.finish(pool, task_id, W.FAILED, "boom")
    await workflows.finish(pool, task_id, W.COMPLETED)  # a later ending: ignored
    assert (await _row(pool, task_id))["status"] == W.FAILED


# ------------------------------------------------------ no status spelled elsewhere

# A status given as a string to the workflow record's functions
# (`workflows.step`, `workflows.finish`), or as a value of a dict whose values
# are all record statuses (a mapping onto them), is spelled.
status_literals = states.LiteralFinder(
    values=states.values_of(WorkflowStatus, StepStatus),
    store_names={"workflows"},
    gatherings=False,
    mapping_values=states.values_of(WorkflowStatus),
)


def test_the_finder_sees_each_way_a_status_was_spelled():
    source = """
await workflows.step(conn, 1, "create_pr", "completed" if ok else "failed")
await workflows.finish(conn, 1, "cancelled", reason)
ENDING = {TaskStatus.PR_OPEN: "completed", TaskStatus.TIMED_OUT: "timed_out"}
await tasks.transition(conn, 1, from_status=("running",), to_status="failed")
"""
    assert status_literals(source) == [
        (2, "completed"),
        (2, "failed"),
        (3, "cancelled"),
        (4, "completed"),
        (4, "timed_out"),
    ]


def test_no_workflow_status_is_spelled_outside_its_module():
    spelled = states.spelled_outside("app/tasks/workflow_status.py", status_literals)
    assert not spelled, spelled
