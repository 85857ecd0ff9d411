"""What a task's workflow does next, decided without I/O: each function takes
what the step read (the task's status, the agent run's state, the clock) and
returns a value; the steps in `app.tasks.advance` and `app.tasks.polling`
persist it and call out. The same facts always give the same decision, so the
rules are unit-tested without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.tasks.status import TaskStatus
from prompts.builder import STRATEGIES

# Codegen's create limit: a wait longer than this frees the worker slot meanwhile.
MOST_CREATE_WAIT_IN_PLACE = 1.0


class AdvanceStep(StrEnum):
    """What `task.advance` does for a task in a given status."""

    VALIDATE = "validate"  #: Check the issue has enough information to act on
    START_ATTEMPT = "start_attempt"  #: Build the prompt and create the attempt's agent run


def advance_step(status: TaskStatus) -> AdvanceStep | None:
    """None for any other status: an earlier try finished this step, or the task
    was stopped."""
    if status == TaskStatus.QUEUED:
        return AdvanceStep.VALIDATE
    if status == TaskStatus.GENERATING_PROMPT:
        return AdvanceStep.START_ATTEMPT
    return None


def after_validation(missing: Sequence[str]) -> TaskStatus:
    """Ask the author for what is missing, or go on to the prompt and the run."""
    return TaskStatus.NEEDS_INFO if missing else TaskStatus.GENERATING_PROMPT


def attempt_strategy(attempt: int, chosen: str | None) -> str | None:
    """The strategy a person chose (`/codegen retry STRATEGY`), else none for a
    first attempt and then each strategy in turn."""
    if chosen:
        return chosen
    return STRATEGIES[min(attempt - 2, len(STRATEGIES) - 1)] if attempt >= 2 else None


def still_waiting_for_run(
    status: TaskStatus | None, attempt: int | None, expected_attempt: int
) -> bool:
    """Whether the task (as read under its lock) still wants the run the step
    is about to make: not stopped, and no other attempt moved it on."""
    return status == TaskStatus.GENERATING_PROMPT and attempt == expected_attempt


class StartAction(StrEnum):
    """How an attempt's agent run comes to be, once the task still wants it."""

    RECORD = "record"  #: A run exists (an earlier try made it): record it, the task runs
    GIVE_UP = "give_up"  #: Past the workflow deadline with no run: the task times out
    WAIT = "wait"  #: Codegen's create limit is reached: come back after `wait` seconds
    CREATE = "create"  #: Create the run now


@dataclass(frozen=True)
class StartDecision:
    action: StartAction
    wait: float = 0.0  # WAIT: seconds until a create would not wait


def decide_start(
    *, has_run: bool, deadline_at: datetime | None, now: datetime, create_delay: float
) -> StartDecision:
    """A run already made is always recorded; otherwise nothing is spent past
    the workflow deadline, and a long wait for the create limit is not spent
    holding a worker slot."""
    if has_run:
        return StartDecision(StartAction.RECORD)
    if deadline_at is not None and now >= deadline_at:
        return StartDecision(StartAction.GIVE_UP)
    if create_delay > MOST_CREATE_WAIT_IN_PLACE:
        return StartDecision(StartAction.WAIT, wait=create_delay)
    return StartDecision(StartAction.CREATE)


class PollAction(StrEnum):
    """What a look at the attempt's agent run leads to."""

    KEEP_POLLING = "keep_polling"  #: The run works: look again after `delay` seconds
    TIME_OUT = "time_out"  #: The run works past its timeout: the task times out, late looks follow
    FINISH_SIMULATED = "finish_simulated"  #: A simulated run ended: nothing to take, task cancelled
    FINISH_WITH_PR = "finish_with_pr"  #: The run completed with pull requests: the task takes them
    FINISH_WITHOUT_PR = "finish_without_pr"  #: The run completed and opened nothing: task failed
    FINISH_CANCELLED = "finish_cancelled"  #: The run was cancelled or stopped: so is the task
    RETRY = "retry"  #: The run failed with retries left: a new attempt starts
    FINISH_FAILED = "finish_failed"  #: The run failed and no retry is left: the task failed


@dataclass(frozen=True)
class PollDecision:
    action: PollAction
    delay: float = 0.0  # KEEP_POLLING: seconds to the next look


def decide_poll(
    *,
    state: str,
    has_pull_requests: bool,
    simulated: bool,
    now: datetime,
    deadline_at: datetime | None,
    next_delay: float,
    attempt: int,
    max_retries: int,
) -> PollDecision:
    """From the run's state (`run_state`: running, complete, cancelled, failed),
    the clock against the run's deadline, and the attempts made so far. The next
    look never comes after the deadline, so a timeout is seen on time."""
    if state == "running":
        if deadline_at is not None and now >= deadline_at:
            return PollDecision(PollAction.TIME_OUT)
        delay = next_delay
        if deadline_at is not None:
            delay = max(0.0, min(delay, (deadline_at - now).total_seconds()))
        return PollDecision(PollAction.KEEP_POLLING, delay=delay)
    if state == "complete":
        if simulated:
            return PollDecision(PollAction.FINISH_SIMULATED)
        if has_pull_requests:
            return PollDecision(PollAction.FINISH_WITH_PR)
        return PollDecision(PollAction.FINISH_WITHOUT_PR)
    if state == "cancelled":
        return PollDecision(PollAction.FINISH_CANCELLED)
    if attempt <= max_retries:
        return PollDecision(PollAction.RETRY)
    return PollDecision(PollAction.FINISH_FAILED)
