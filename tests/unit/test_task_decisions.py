"""The task workflow's decisions (`app.tasks.decisions`), without a database:
what `task.advance` does for a status, how an attempt's run comes to be, and
what a look at the run leads to. The behaviour they drive is tested end to end
in test_task_flow.py and test_task_endings.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.tasks.decisions import (
    AdvanceStep,
    PollAction,
    PollDecision,
    StartAction,
    StartDecision,
    advance_step,
    after_validation,
    attempt_strategy,
    decide_poll,
    decide_start,
    still_waiting_for_run,
)
from app.tasks.status import TaskStatus
from prompts.builder import STRATEGIES

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
S = TaskStatus


def test_advance_validates_a_queued_task_and_starts_an_attempt_after():
    assert advance_step(S.QUEUED) is AdvanceStep.VALIDATE
    assert advance_step(S.GENERATING_PROMPT) is AdvanceStep.START_ATTEMPT
    for status in set(TaskStatus) - {S.QUEUED, S.GENERATING_PROMPT}:
        assert advance_step(status) is None, status  # done already, or stopped


def test_a_thin_issue_waits_for_information():
    assert after_validation(["The issue has no description."]) is S.NEEDS_INFO
    assert after_validation([]) is S.GENERATING_PROMPT


def test_strategies_come_in_turn_unless_one_was_chosen():
    assert attempt_strategy(1, None) is None
    assert attempt_strategy(2, None) == STRATEGIES[0]
    assert attempt_strategy(99, None) == STRATEGIES[-1]
    assert attempt_strategy(1, "minimal_change") == "minimal_change"


def test_a_run_is_made_only_for_the_attempt_still_waiting_for_it():
    assert still_waiting_for_run(S.GENERATING_PROMPT, 1, 1)
    assert not still_waiting_for_run(S.CANCELLED, 1, 1)  # stopped meanwhile
    assert not still_waiting_for_run(S.GENERATING_PROMPT, 2, 1)  # moved on
    assert not still_waiting_for_run(None, None, 1)  # gone


def _start(**overrides) -> StartDecision:
    facts = {"has_run": False, "deadline_at": NOW + timedelta(minutes=5), "now": NOW}
    return decide_start(**{**facts, "create_delay": 0.0, **overrides})


def test_a_run_already_made_is_recorded_whatever_the_clock_or_limit():
    late = {"deadline_at": NOW - timedelta(seconds=1), "create_delay": 30.0}
    assert _start(has_run=True, **late) == StartDecision(StartAction.RECORD)


def test_nothing_is_spent_past_the_workflow_deadline():
    assert _start(deadline_at=NOW).action is StartAction.GIVE_UP
    assert _start(deadline_at=NOW - timedelta(hours=1), create_delay=30.0).action == (
        StartAction.GIVE_UP
    )
    assert _start(deadline_at=None).action is StartAction.CREATE


def test_a_long_wait_for_the_create_limit_frees_the_worker():
    assert _start(create_delay=1.0) == StartDecision(StartAction.CREATE)
    assert _start(create_delay=7.5) == StartDecision(StartAction.WAIT, wait=7.5)


def _poll(**overrides) -> PollDecision:
    facts = {
        "state": "running",
        "has_pull_requests": False,
        "simulated": False,
        "now": NOW,
        "deadline_at": NOW + timedelta(minutes=10),
        "next_delay": 15.0,
        "attempt": 1,
        "max_retries": 2,
    }
    return decide_poll(**{**facts, **overrides})


def test_a_working_run_is_looked_at_again_never_after_its_deadline():
    assert _poll() == PollDecision(PollAction.KEEP_POLLING, delay=15.0)
    assert _poll(deadline_at=NOW + timedelta(seconds=4)).delay == 4.0
    assert _poll(deadline_at=None, next_delay=120.0).delay == 120.0


def test_a_run_working_at_its_deadline_times_out():
    assert _poll(deadline_at=NOW).action is PollAction.TIME_OUT
    assert _poll(deadline_at=NOW - timedelta(minutes=1)).action is PollAction.TIME_OUT


@pytest.mark.parametrize(
    ("facts", "action"),
    [
        ({"state": "complete", "has_pull_requests": True}, PollAction.FINISH_WITH_PR),
        ({"state": "complete"}, PollAction.FINISH_WITHOUT_PR),
        # A simulated run's pull requests are never taken.
        (
            {"state": "complete", "has_pull_requests": True, "simulated": True},
            PollAction.FINISH_SIMULATED,
        ),
        ({"state": "cancelled", "has_pull_requests": True}, PollAction.FINISH_CANCELLED),
        ({"state": "failed", "attempt": 2, "max_retries": 2}, PollAction.RETRY),
        ({"state": "failed", "attempt": 3, "max_retries": 2}, PollAction.FINISH_FAILED),
        ({"state": "failed", "attempt": 1, "max_retries": 0}, PollAction.FINISH_FAILED),
    ],
)
def test_an_ended_run_ends_the_attempt(facts, action):
    # Past its deadline too: an ended run is taken as it ended.
    assert _poll(deadline_at=NOW - timedelta(hours=1), **facts) == PollDecision(action)
