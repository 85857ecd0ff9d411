"""What a look at a follow-up's agent run leads to, decided without I/O: the
poll job in `app.followups.flow` reads the run and the clock, asks here, and
persists the answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FollowupPollAction(StrEnum):
    """What a look at the agent run working on a follow-up leads to."""

    KEEP_POLLING = "keep_polling"  #: The agent works: look again after `delay` seconds
    TIME_OUT = "time_out"  #: The agent works past the run timeout: stop following it
    COMPLETE = "complete"  #: The run completed: the follow-up is done
    FAIL = "fail"  #: The run failed or was cancelled: the follow-up failed


@dataclass(frozen=True)
class FollowupPollDecision:
    action: FollowupPollAction
    delay: float = 0.0  # KEEP_POLLING: seconds to the next look


def decide_poll(
    *, state: str, working_seconds: float, limit_seconds: float, next_delay: float
) -> FollowupPollDecision:
    """From the run's state (`run_state`), how long the agent has had the
    instructions, and the repository's run timeout (a follow-up is an agent run
    too)."""
    if state == "running":
        if working_seconds > limit_seconds:
            return FollowupPollDecision(FollowupPollAction.TIME_OUT)
        return FollowupPollDecision(FollowupPollAction.KEEP_POLLING, delay=next_delay)
    if state == "complete":
        return FollowupPollDecision(FollowupPollAction.COMPLETE)
    return FollowupPollDecision(FollowupPollAction.FAIL)
