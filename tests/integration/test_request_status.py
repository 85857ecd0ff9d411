"""An attempt's state machine (`codegen_requests.status`) has one owner
(`app/tasks/request_status.py`): each status says what it means, the schema
allows exactly the enum's values, the one function that changes a status
refuses a move the table does not list, and no other module spells an
attempt's status as a string."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
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

ROOT = Path(__file__).resolve().parents[2]
R = RequestStatus


def test_every_status_has_a_line_of_documentation():
    source = (ROOT / "app" / "tasks" / "request_status.py").read_text()
    for status in RequestStatus:
        line = re.search(rf'^    {status.name} = "{status.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= 3, status


def test_the_sets_mean_what_their_names_say():
    assert UNMADE == {R.PREPARED, R.CREATING}
    assert STOPPABLE == set(RequestStatus) - {R.COMPLETE, R.FAILED, R.CANCELLED}
    assert LATE == {R.TIMED_OUT, R.COMPLETE}
    assert ENDED.isdisjoint(UNMADE | {R.RUNNING})
    assert ENDED | UNMADE | {R.RUNNING} == set(RequestStatus)


def _reachable(start: RequestStatus) -> set[RequestStatus]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_status_is_reachable_and_a_made_run_is_never_made_again():
    assert set(TRANSITIONS) == set(RequestStatus)
    assert _reachable(R.PREPARED) == set(RequestStatus)
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
    check = await pool.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'codegen_requests'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%status%'"""
    )
    assert set(re.findall(r"'([a-z_]+)'", check)) == {s.value for s in RequestStatus}


async def _new_request(pool) -> codegen_requests.CodegenRequest:
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

_VALUES = {s.value for s in RequestStatus}
_ONLY_REQUESTS = {R.PREPARED.value, R.CREATING.value}  # no other state has these
# Names the code gives an attempt (other objects with a `.status` go by other names).
_REQUEST_NAMES = {"request", "previous", "latest"}


def _statuses_in(node: ast.AST) -> Iterator[ast.Constant]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and child.value in _VALUES:
            yield child


def _is_request_status(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Attribute) and node.attr == "status"):
        return False
    base = node.value
    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
    return name in _REQUEST_NAMES


def _is_requests_call(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "codegen_requests"
    )


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each attempt status spelled as a string: compared with an
    attempt's status, given to the attempts store, or gathered in a tuple, set,
    list or dict keys holding a status only attempts have."""
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST) -> None:
        found.update((c.lineno, c.value) for c in _statuses_in(node))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_request_status(op) for op in operands):
                for op in operands:
                    add(op)
        elif isinstance(node, ast.Call) and _is_requests_call(node):
            if node.func.attr == "move":
                for arg in node.args:
                    add(arg)
            for keyword in node.keywords:
                if keyword.arg == "status":
                    add(keyword.value)
        elif isinstance(node, ast.Tuple | ast.Set | ast.List | ast.Dict):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            strings = {i.value for i in items if isinstance(i, ast.Constant)}
            if len(strings) >= 2 and strings <= _VALUES and strings & _ONLY_REQUESTS:
                for item in items:
                    if item is not None:
                        add(item)
    return sorted(found)


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
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    owner = ROOT / "app" / "tasks" / "request_status.py"
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != owner
        for line, value in status_literals(path.read_text())
    }
    assert not spelled, sorted(spelled)
