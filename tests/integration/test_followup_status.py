"""The follow-up state machine has one owner (`app/followups/status.py`): each
status says what it means, the schema allows exactly the enum's values, the one
function that changes a status refuses a move the table does not list, and no
other module spells a follow-up status as a string."""

from __future__ import annotations

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
from tests.support import states

F = FollowupStatus


def test_every_status_has_a_line_of_documentation():
    states.assert_documented("app/followups/status.py", FollowupStatus)


def test_the_sets_divide_the_statuses():
    assert UNSENT < IN_FLIGHT
    assert IN_FLIGHT.isdisjoint(FINAL) and IN_FLIGHT | FINAL == set(FollowupStatus)


def test_every_status_is_reachable_and_only_final_ones_are_never_left():
    assert set(TRANSITIONS) == set(FollowupStatus)
    assert states.reachable(TRANSITIONS, F.PENDING) == set(FollowupStatus)
    assert {s for s, targets in TRANSITIONS.items() if not targets} == FINAL
    for status in IN_FLIGHT:  # a cancel stops any follow-up still in flight
        assert F.FAILED in TRANSITIONS[status], status


async def test_the_enum_is_what_the_schema_allows(pool):
    assert await states.check_values(pool, "agent_followups", "status") == {
        s.value for s in FollowupStatus
    }


async def _new_followup(pool) -> followups.Followup:
    task = await states.new_task(pool)
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

# Names the code gives a follow-up (other objects with a `.status` go by other
# names); functions of the follow-ups store whose arguments are follow-up
# statuses, and its keywords that take one. A status compared with a
# follow-up's, given to the follow-ups store, or gathered in a tuple, set, list
# or dict keys holding a status only follow-ups have, is spelled.
status_literals = states.LiteralFinder(
    values=states.values_of(FollowupStatus),
    subject_names={"followup", "busy"},
    store_names={"followups"},
    store_calls={"move", "check_move"},
    store_keywords={"status", "from_status", "to_status"},
    distinctive={F.SENDING.value},  # no other state (CI verdicts have "pending") has it
)


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
    spelled = states.spelled_outside("app/followups/status.py", status_literals)
    assert not spelled, spelled
