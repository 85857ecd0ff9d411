"""The validation state machine has one owner (app/validation/status.py): each
status says what it means, the named sets mean what their names say, the
schema allows exactly the enum's values, the one function that changes a
status refuses a move the table does not list, and no other module spells a
validation status as a string."""

from __future__ import annotations

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
from tests.support import states

S = ValidationStatus


def test_every_status_has_a_line_of_documentation():
    states.assert_documented("app/validation/status.py", ValidationStatus)


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


def test_every_status_is_reachable_from_queued_and_every_one_can_end():
    assert states.reachable(TRANSITIONS, S.QUEUED) == set(ValidationStatus)
    for status in ValidationStatus:
        assert states.reachable(TRANSITIONS, status) & FINAL, status


async def test_the_enum_is_what_the_schema_allows(pool):
    assert await states.check_values(pool, "validations", "status") == {
        s.value for s in ValidationStatus
    }
    assert await states.index_values(pool, "validations_open") == {s.value for s in OPEN}


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

# Names the code gives a validation (tasks and follow-ups go by other names,
# and their statuses have their own owners). A status compared with a
# validation's, given to a function of the validations store, or gathered in a
# tuple, set or list, or as the keys of a dict, of validation statuses only, is
# spelled. (GitHub's own check-run `status` field uses some of the same words;
# a check-run body is none of these.)
status_literals = states.LiteralFinder(
    values=states.values_of(ValidationStatus),
    subject_names={"validation", "current", "latest", "done", "old", "fresh"},
    store_names={"validations"},
)


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
    spelled = states.spelled_outside("app/validation/status.py", status_literals)
    assert not spelled, spelled
