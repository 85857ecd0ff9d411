"""The validation state machine has one owner (app/validation/status.py): each
status says what it means, the named sets mean what their names say, the
schema allows exactly the enum's values, the one function that changes a
status refuses a move the table does not list, and no other module spells a
validation status as a string."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pull_requests import store as pull_requests
from app.validation import store as validations
from app.validation.status import (
    FINAL,
    OPEN,
    TRANSITIONS,
    IllegalTransition,
    ValidationStatus,
)

ROOT = Path(__file__).resolve().parents[2]
S = ValidationStatus


def test_every_status_has_a_line_of_documentation():
    source = (ROOT / "app" / "validation" / "status.py").read_text()
    for status in ValidationStatus:
        line = re.search(rf'^    {status.name} = "{status.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= 3, status


def test_open_and_final_divide_the_statuses():
    assert OPEN.isdisjoint(FINAL)
    assert OPEN | FINAL == set(ValidationStatus)


def test_every_status_has_its_moves_listed_and_a_final_one_has_none():
    assert set(TRANSITIONS) == set(ValidationStatus)
    for targets in TRANSITIONS.values():
        assert targets <= set(ValidationStatus)
    for status in FINAL:
        assert TRANSITIONS[status] == frozenset(), status


def test_every_open_status_can_be_superseded_or_concluded():
    for status in OPEN:
        assert {S.SUPERSEDED, S.COMPLETED} <= TRANSITIONS[status], status


def _reachable(start: ValidationStatus) -> set[ValidationStatus]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_status_is_reachable_from_queued_and_every_one_can_end():
    assert _reachable(S.QUEUED) == set(ValidationStatus)
    for status in ValidationStatus:
        assert _reachable(status) & FINAL, status


async def test_the_enum_is_what_the_schema_allows(pool):
    check = await pool.fetchval(
        """SELECT pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'validations'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%status%'"""
    )
    assert set(re.findall(r"'([a-z_]+)'", check)) == {s.value for s in ValidationStatus}
    index = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'validations_open'"
    )
    predicate = index.split(" WHERE ", 1)[1]
    assert set(re.findall(r"'([a-z_]+)'", predicate)) == {s.value for s in OPEN}


async def _new_validation(pool, sha: str = "a" * 40) -> validations.Validation:
    pr = await pull_requests.upsert(
        pool,
        installation_id=1,
        repository="octo/widgets",
        number=12,
        head_sha=sha,
        head_ref="codegen/fix",
        task_id=None,
    )
    async with pool.acquire() as conn:
        validation = await validations.create(conn, pr.id, sha, "opened", again=True)
    assert validation is not None and validation.status is S.QUEUED
    return validation


async def test_an_illegal_move_raises_before_anything_is_written(pool):
    validation = await _new_validation(pool)
    with pytest.raises(IllegalTransition, match="from completed to in_progress"):
        await validations.transition(
            pool, validation.id, from_status=(S.COMPLETED,), to_status=S.IN_PROGRESS, title="x"
        )
    # One illegal status among those given is enough: each is checked.
    with pytest.raises(IllegalTransition, match="from superseded to completed"):
        await validations.transition(
            pool, validation.id, from_status=(S.QUEUED, S.SUPERSEDED), to_status=S.COMPLETED
        )
    assert await validations.get(pool, validation.id) == validation


async def test_the_status_is_not_changed_by_a_plain_update(pool):
    validation = await _new_validation(pool)
    with pytest.raises(ValueError, match="only through transition"):
        await validations.update(pool, validation.id, status=S.COMPLETED)
    assert await validations.get(pool, validation.id) == validation


async def test_a_listed_move_happens_only_from_the_statuses_given(pool):
    validation = await _new_validation(pool)
    moved = await validations.transition(
        pool, validation.id, from_status=(S.QUEUED,), to_status=S.IN_PROGRESS, title="Validating"
    )
    after = await validations.get(pool, validation.id)
    assert moved and after is not None
    assert after.status is S.IN_PROGRESS and after.title == "Validating"
    # Not from `queued` any more: nothing moves, nothing is written.
    again = await validations.transition(
        pool, validation.id, from_status=(S.QUEUED,), to_status=S.COMPLETED, title="late"
    )
    assert not again and await validations.get(pool, validation.id) == after


async def test_superseding_moves_only_the_open_validations_of_the_pr(pool):
    first = await _new_validation(pool)
    done = await _new_validation(pool)
    await validations.transition(pool, done.id, from_status=OPEN, to_status=S.COMPLETED)
    newest = await _new_validation(pool)
    async with pool.acquire() as conn:
        moved = await validations.supersede_open(conn, first.pull_request_id, newest.id)
    assert moved == [first.id]
    statuses = [(await validations.get(pool, v.id)).status for v in (first, done, newest)]
    assert statuses == [S.SUPERSEDED, S.COMPLETED, S.QUEUED]


async def test_the_validation_behind_a_check_run_is_found_by_its_id(pool):
    validation = await _new_validation(pool)
    await validations.update(pool, validation.id, check_run_id=4242)
    found = await validations.for_check_run(pool, 4242)
    assert found is not None and found.id == validation.id
    assert await validations.for_check_run(pool, 4243) is None


# ------------------------------------------------------ no status spelled elsewhere

_VALUES = {s.value for s in ValidationStatus}
# Names the code gives a validation (tasks and follow-ups go by other names,
# and their statuses have their own owners).
_VALIDATION_NAMES = {"validation", "current", "latest", "done", "old", "fresh"}


def _statuses_in(node: ast.AST) -> Iterator[ast.Constant]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and child.value in _VALUES:
            yield child


def _is_validation_status(node: ast.AST) -> bool:
    """`validation.status`, `self.current.status` and the like."""
    if not (isinstance(node, ast.Attribute) and node.attr == "status"):
        return False
    base = node.value
    name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
    return name in _VALIDATION_NAMES


def _on_the_store(node: ast.Call) -> bool:
    """`validations.update(...)`, `validations.transition(...)`: the table's functions."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "validations"
    )


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each validation status spelled as a string: compared
    with a validation's status, given to a function of the validations store,
    or gathered in a tuple, set or list, or as the keys of a dict, of
    validation statuses only. (GitHub's own check-run `status` field uses some
    of the same words; a check-run body is none of these.)"""
    found: set[tuple[int, str]] = set()

    def add(node: ast.AST) -> None:
        found.update((c.lineno, c.value) for c in _statuses_in(node))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_validation_status(op) for op in operands):
                for op in operands:
                    add(op)
        elif isinstance(node, ast.Call) and _on_the_store(node):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
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
if validation.status == "superseded" or latest.status not in ("waiting_ci", "completed"):
    await validations.update(pool, 1, status="completed" if x else "superseded")
    await validations.transition(pool, 1, from_status=("queued",), to_status="in_progress")
OPEN = {"queued", "in_progress"}
body.update(status="completed", conclusion="success")
gh_run = {"status": "in_progress"}
if followup.status == "failed" or r.get("status") == "completed":
    pass
"""
    assert status_literals(source) == [
        (2, "completed"),
        (2, "superseded"),
        (2, "waiting_ci"),
        (3, "completed"),
        (3, "superseded"),
        (4, "in_progress"),
        (4, "queued"),
        (5, "in_progress"),
        (5, "queued"),
    ]


def test_no_validation_status_is_spelled_outside_its_module():
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    owner = ROOT / "app" / "validation" / "status.py"
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != owner
        for line, value in status_literals(path.read_text())
    }
    assert not spelled, sorted(spelled)
