"""The task state machine has one owner (`app/task_status.py`): each status
says what it means, the named sets mean what their names say, the schema
allows exactly the enum's values, the one function that changes a status
refuses a move the table does not list, and no other module spells a task
status as a string."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]
S = TaskStatus


def test_every_status_has_a_line_of_documentation():
    source = (ROOT / "app" / "tasks" / "status.py").read_text()
    for status in TaskStatus:
        line = re.search(rf'^    {status.name} = "{status.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= 3, status


def test_active_pr_stages_and_final_divide_the_statuses():
    assert ACTIVE.isdisjoint(PR_STAGES) and ACTIVE.isdisjoint(FINAL)
    assert PR_STAGES.isdisjoint(FINAL)
    assert ACTIVE | PR_STAGES | FINAL == set(TaskStatus)


def test_the_other_sets_are_made_of_those():
    assert WORKING == ACTIVE - {S.NEEDS_INFO}  # waiting for an edit is not work
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
    # `running` goes back on its own when a failed run has retries left.
    assert retried == RETRYABLE | {S.QUEUED, S.RUNNING}


def _reachable(start: TaskStatus) -> set[TaskStatus]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_status_is_reachable_from_queued_and_every_one_can_end():
    assert _reachable(S.QUEUED) == set(TaskStatus)
    for status in TaskStatus:
        assert _reachable(status) & FINAL, status


async def test_the_enum_is_what_the_schema_allows(pool):
    check = await pool.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'tasks'::regclass AND conname = 'tasks_status_check'"""
    )
    assert set(re.findall(r"'([a-z_]+)'", check)) == {s.value for s in TaskStatus}
    index = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'tasks_one_active_per_issue'"
    )
    predicate = index.split(" WHERE ", 1)[1]
    assert set(re.findall(r"'([a-z_]+)'", predicate)) == {s.value for s in ACTIVE}


async def _new_task(pool) -> tasks.Task:
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
    assert task is not None and task.status == S.QUEUED
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

_VALUES = {s.value for s in TaskStatus}
# Names the code gives a task (other objects with a `.status` go by other names).
_TASK_NAMES = {"task", "current", "active", "moved", "newest", "latest", "stopped"}
# Functions whose arguments are task statuses.
_STATUS_CALLS = {"transition", "cancel", "_finish", "follow_verdict"}


def _statuses_in(node: ast.AST) -> Iterator[ast.Constant]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and child.value in _VALUES:
            yield child


def _is_task_status(node: ast.AST) -> bool:
    """`task.status`, `self.task.status` and the like."""
    if not (isinstance(node, ast.Attribute) and node.attr == "status"):
        return False
    base = node.value
    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
    return name in _TASK_NAMES


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each task status spelled as a string: compared with a
    task's status, given to a function that takes one, or gathered in a tuple,
    set or list, or as the keys of a dict, of task statuses only."""
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST) -> None:
        found.update((c.lineno, c.value) for c in _statuses_in(node))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_task_status(op) for op in operands):
                for op in operands:
                    add(op)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("from_status", "to_status"):
                    add(keyword.value)
            if _call_name(node) in _STATUS_CALLS:
                for arg in node.args:
                    add(arg)
        elif isinstance(node, ast.Tuple | ast.Set | ast.List | ast.Dict):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            strings = {i.value for i in items if isinstance(i, ast.Constant)}
            if len(strings) >= 2 and strings <= _VALUES:
                for item in items:
                    if item is not None:
                        add(item)
    return sorted(found)


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
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != ROOT / "app" / "tasks" / "status.py"
        for line, value in status_literals(path.read_text())
    }
    assert not spelled, sorted(spelled)
