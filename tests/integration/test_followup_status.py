"""The follow-up state machine has one owner (`app/followups/status.py`): each
status says what it means, the schema allows exactly the enum's values, the one
function that changes a status refuses a move the table does not list, and no
other module spells a follow-up status as a string."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.followups import store as followups
from app.followups.status import (
    FINAL,
    IN_FLIGHT,
    TRANSITIONS,
    UNSENT,
    FollowupStatus,
    IllegalFollowupMove,
)
from app.tasks import store as tasks

ROOT = Path(__file__).resolve().parents[2]
F = FollowupStatus


def test_every_status_has_a_line_of_documentation():
    source = (ROOT / "app" / "followups" / "status.py").read_text()
    for status in FollowupStatus:
        line = re.search(rf'^    {status.name} = "{status.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= 3, status


def test_the_sets_divide_the_statuses():
    assert UNSENT < IN_FLIGHT
    assert IN_FLIGHT.isdisjoint(FINAL) and IN_FLIGHT | FINAL == set(FollowupStatus)


def _reachable(start: FollowupStatus) -> set[FollowupStatus]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_status_is_reachable_and_only_final_ones_are_never_left():
    assert set(TRANSITIONS) == set(FollowupStatus)
    assert _reachable(F.PENDING) == set(FollowupStatus)
    assert {s for s, targets in TRANSITIONS.items() if not targets} == FINAL
    for status in IN_FLIGHT:  # a cancel stops any follow-up still in flight
        assert F.FAILED in TRANSITIONS[status], status


async def test_the_enum_is_what_the_schema_allows(pool):
    check = await pool.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'agent_followups'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%status%'"""
    )
    assert set(re.findall(r"'([a-z_]+)'", check)) == {s.value for s in FollowupStatus}


async def _new_followup(pool) -> followups.Followup:
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
    followup, created = await followups.create(
        pool,
        task_id=task.id,
        pull_request_id=None,
        kind="fix",
        key="test:1",
        agent_run_id=41,
        instructions="Rename the flag.",
        requested_by="writer-wes",
    )
    assert created and followup.status is F.PENDING
    return followup


async def test_an_illegal_move_raises_before_anything_is_written(pool):
    followup = await _new_followup(pool)
    with pytest.raises(IllegalFollowupMove, match="from pending to complete"):
        await followups.move(pool, followup.id, (F.PENDING,), F.COMPLETE)
    # One illegal status among those given is enough: each is checked.
    with pytest.raises(IllegalFollowupMove, match="from failed to running"):
        await followups.move(pool, followup.id, (F.SENDING, F.FAILED), F.RUNNING)
    with pytest.raises(ValueError, match="only by `move`"):
        await followups.update(pool, followup.id, status=F.RUNNING)
    assert await followups.get(pool, followup.id) == followup


async def test_listed_moves_happen_and_stamp_their_times(pool):
    followup = await _new_followup(pool)
    assert await followups.move(pool, followup.id, UNSENT, F.SENDING)
    assert await followups.move(pool, followup.id, (F.SENDING,), F.RUNNING)
    running = await followups.get(pool, followup.id)
    assert running.status is F.RUNNING and running.sent_at is not None
    assert running.finished_at is None
    assert not await followups.move(pool, followup.id, UNSENT, F.FAILED)  # not from running
    assert await followups.move(pool, followup.id, (F.RUNNING,), F.COMPLETE)
    done = await followups.get(pool, followup.id)
    assert done.status is F.COMPLETE and done.finished_at is not None


# ------------------------------------------------------ no status spelled elsewhere

_VALUES = {s.value for s in FollowupStatus}
_ONLY_FOLLOWUPS = {F.SENDING.value}  # no other state (CI verdicts have "pending") has it
# Names the code gives a follow-up (other objects with a `.status` go by other names).
_FOLLOWUP_NAMES = {"followup", "busy"}
# Functions of the follow-ups store whose arguments are follow-up statuses.
_STATUS_CALLS = {"move", "check_move"}


def _statuses_in(node: ast.AST) -> Iterator[ast.Constant]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and child.value in _VALUES:
            yield child


def _is_followup_status(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Attribute) and node.attr == "status"):
        return False
    base = node.value
    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
    return name in _FOLLOWUP_NAMES


def _is_followups_call(node: ast.Call) -> bool:
    """`followups.move(...)` and the like: a call on the follow-ups store."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "followups"
    )


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each follow-up status spelled as a string: compared with
    a follow-up's status, given to the follow-ups store, or gathered in a tuple,
    set, list or dict keys holding a status only follow-ups have."""
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST) -> None:
        found.update((c.lineno, c.value) for c in _statuses_in(node))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_followup_status(op) for op in operands):
                for op in operands:
                    add(op)
        elif isinstance(node, ast.Call) and _is_followups_call(node):
            if node.func.attr in _STATUS_CALLS:
                for arg in node.args:
                    add(arg)
            for keyword in node.keywords:
                if keyword.arg in ("status", "from_status", "to_status"):
                    add(keyword.value)
        elif isinstance(node, ast.Tuple | ast.Set | ast.List | ast.Dict):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            strings = {i.value for i in items if isinstance(i, ast.Constant)}
            if len(strings) >= 2 and strings <= _VALUES and strings & _ONLY_FOLLOWUPS:
                for item in items:
                    if item is not None:
                        add(item)
    return sorted(found)


def test_the_finder_sees_each_way_a_status_was_spelled():
    source = """
if followup.status == "failed" or busy.status in ("pending", "sending"):
    await followups.move(conn, 1, ("sending",), "running")
    await followups.update(conn, 1, status="complete")
STATE = {"sending": "sending", "complete": "done"}
CI_WAITS = state.verdict in ("failed", "pending")
if task.status == "failed" or request.status in ("running", "complete"):
    await codegen_requests.update(conn, 1, status="failed")
"""
    assert status_literals(source) == [
        (2, "failed"),
        (2, "pending"),
        (2, "sending"),
        (3, "running"),
        (3, "sending"),
        (4, "complete"),
        (5, "complete"),
        (5, "sending"),
    ]


def test_no_followup_status_is_spelled_outside_its_module():
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    owner = ROOT / "app" / "followups" / "status.py"
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != owner
        for line, value in status_literals(path.read_text())
    }
    assert not spelled, sorted(spelled)
