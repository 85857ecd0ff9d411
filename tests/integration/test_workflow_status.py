"""A task's workflow record has one owner for its statuses
(`app/tasks/workflow_status.py`): each says what it means, the schema allows
exactly the record's values, the one function that ends a record refuses an
ending the table does not list and keeps the first one, and no other module
gives the record's functions a status spelled as a string."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orjson
import pytest

from app.tasks import store as tasks
from app.tasks import workflows_store as workflows
from app.tasks.workflow_status import (
    ENDINGS,
    TRANSITIONS,
    IllegalWorkflowMove,
    StepStatus,
    WorkflowStatus,
)

ROOT = Path(__file__).resolve().parents[2]
W = WorkflowStatus


@pytest.mark.parametrize("enum", [WorkflowStatus, StepStatus])
def test_every_status_has_a_line_of_documentation(enum):
    source = (ROOT / "app" / "tasks" / "workflow_status.py").read_text()
    for status in enum:
        line = re.search(rf'^    {status.name} = "{status.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= 2, status


def test_a_record_ends_once_from_running():
    assert set(TRANSITIONS) == set(WorkflowStatus)
    assert ENDINGS == set(WorkflowStatus) - {W.RUNNING}
    assert all(not TRANSITIONS[ending] for ending in ENDINGS)


async def test_the_enum_is_what_the_schema_allows(pool):
    check = await pool.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'workflow_executions'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%status%'"""
    )
    assert set(re.findall(r"'([a-z_]+)'", check)) == {s.value for s in WorkflowStatus}


async def _record(pool) -> int:
    task = await tasks.create(
        pool,
        installation_id=1,
        repository="octo/widgets",
        issue_number=7,
        issue_url="https://github.com/octo/widgets/issues/7",
        issue_author="reporter-rae",
        title="Export",
        triggered_by="writer-wes",
    )
    assert task is not None
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

_VALUES = {s.value for s in WorkflowStatus} | {s.value for s in StepStatus}


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each status given as a string to the workflow record's
    functions (`workflows.step`, `workflows.finish`), or as a value of a dict
    whose values are all such statuses (a mapping onto them)."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if not (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "workflows"
            ):
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for child in ast.walk(arg):
                    if isinstance(child, ast.Constant) and child.value in _VALUES:
                        found.add((child.lineno, child.value))
        elif isinstance(node, ast.Dict):
            values = [v for v in node.values if isinstance(v, ast.Constant)]
            strings = {v.value for v in values}
            if len(values) == len(node.values) >= 2 and strings <= {s.value for s in W}:
                found.update((v.lineno, v.value) for v in values)
    return sorted(found)


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
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    owner = ROOT / "app" / "tasks" / "workflow_status.py"
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != owner
        for line, value in status_literals(path.read_text())
    }
    assert not spelled, sorted(spelled)
