"""The follow-up poll loop's decision (`app.followups.decisions`), without a
database: the behaviour it drives is tested end to end with the validation
and command tests."""

from __future__ import annotations

import pytest

from app.followups.decisions import FollowupPollAction, FollowupPollDecision, decide_poll


def test_a_working_agent_is_followed_until_the_run_timeout():
    facts = {"state": "running", "limit_seconds": 600.0, "next_delay": 30.0}
    assert decide_poll(working_seconds=600.0, **facts) == FollowupPollDecision(
        FollowupPollAction.KEEP_POLLING, delay=30.0
    )
    assert decide_poll(working_seconds=600.5, **facts) == FollowupPollDecision(
        FollowupPollAction.TIME_OUT
    )


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("complete", FollowupPollAction.COMPLETE),
        ("failed", FollowupPollAction.FAIL),
        ("cancelled", FollowupPollAction.FAIL),
    ],
)
def test_an_ended_run_ends_the_follow_up_whatever_the_time(state, action):
    decision = decide_poll(state=state, working_seconds=9e9, limit_seconds=1.0, next_delay=5.0)
    assert decision == FollowupPollDecision(action)
