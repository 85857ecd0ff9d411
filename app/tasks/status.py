"""A task's status: its values, the sets the code asks about, and the moves
between them. `tasks.transition`, the one function that changes a task's
status, refuses a move this table does not list. Changes here must match the
CHECK constraint on `tasks.status` and the state diagram in
docs/ARCHITECTURE.md (tests compare them)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task stands; stored as its value in `tasks.status`."""

    CREATED = "created"  #: Made through the API; `create-pr`, `/codegen run` or the label starts it
    QUEUED = "queued"  #: Picked up: the issue is about to be checked for enough information
    GENERATING_PROMPT = "generating_prompt"  #: Checked; the prompt and agent run are being made
    RUNNING = "running"  #: The agent run is working; the bot polls it
    PR_OPEN = "pr_open"  #: The run opened a pull request; no validation has started
    VALIDATING = "validating"  #: A validation of the pull request's head is in progress
    PASSED = "passed"  #: The latest validation passed (or was neutral)
    CHANGES_REQUESTED = "changes_requested"  #: The latest validation found problems
    MERGED = "merged"  #: The pull request was merged: the task is done for good
    CLOSED = "closed"  #: The pull request was closed without merging
    FAILED = "failed"  #: The run (or the bot's work on it) failed, its retries spent
    CANCELLED = "cancelled"  #: Stopped by a person, the issue's end, or a simulated run's end
    NEEDS_INFO = "needs_info"  #: The issue lacks information; an edit or `/codegen run` resumes
    TIMED_OUT = "timed_out"  #: Past a timeout; a late pull request of its run is still taken


_S = TaskStatus

# The task holds its issue: at most one such task per issue (the partial unique
# index `tasks_one_active_per_issue` has this predicate). A `created` one too:
# nothing runs yet, but it is the task, which its first start runs.
ACTIVE = frozenset({_S.CREATED, _S.QUEUED, _S.GENERATING_PROMPT, _S.RUNNING, _S.NEEDS_INFO})
# The bot or the agent is at work on an attempt: no retry or follow-up now, and
# a job of the task that dies for good fails the task.
WORKING = frozenset({_S.QUEUED, _S.GENERATING_PROMPT, _S.RUNNING})
# A pull request of the run is out: it is validated, fixed, merged or closed.
PR_STAGES = frozenset({_S.PR_OPEN, _S.VALIDATING, _S.PASSED, _S.CHANGES_REQUESTED})
# The task is over: nothing more happens unless a person retries it (or, after
# a timeout, its run opens a pull request late).
FINAL = frozenset({_S.MERGED, _S.CLOSED, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT})
# No attempt is under way and none starts on its own: `finished_at` is set.
ATTEMPTS_OVER = PR_STAGES | FINAL
# The agent has the task: its run is being made or works, or its pull request
# is out (so a PR closing the issue may be the agent's).
WITH_AGENT = frozenset({_S.GENERATING_PROMPT, _S.RUNNING}) | PR_STAGES
# A new attempt (`/codegen retry`) may start: the task is not working any more.
RETRYABLE = PR_STAGES | {_S.FAILED, _S.CANCELLED, _S.TIMED_OUT, _S.CLOSED}
# `/codegen cancel` stops these (and a timed-out task still watched for a late PR).
STOPPABLE = ACTIVE | PR_STAGES

# Every move the code makes, and only those: from a status to the statuses it may take.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    # Its first attempt starts (`create-pr`, `/codegen run`, the label); a cancel.
    _S.CREATED: frozenset({_S.GENERATING_PROMPT, _S.CANCELLED}),
    # The issue check: enough information or not; a job that died; a cancel.
    _S.QUEUED: frozenset({_S.GENERATING_PROMPT, _S.NEEDS_INFO, _S.FAILED, _S.CANCELLED}),
    # The run is created, refused, or not started within the workflow timeout.
    _S.GENERATING_PROMPT: frozenset({_S.RUNNING, _S.FAILED, _S.TIMED_OUT, _S.CANCELLED}),
    # The run's end; a failed run with retries left goes back for a new attempt;
    # its PR can be merged before a poll sees the run complete.
    _S.RUNNING: frozenset(
        {_S.PR_OPEN, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT, _S.GENERATING_PROMPT, _S.MERGED}
    ),
    # A validation starts (again), a verdict lands, the PR ends; a retry; a cancel.
    _S.PR_OPEN: frozenset(
        {_S.VALIDATING, _S.PASSED, _S.CHANGES_REQUESTED, _S.MERGED, _S.CLOSED}
        | {_S.GENERATING_PROMPT, _S.CANCELLED}
    ),
    _S.VALIDATING: frozenset(
        {_S.VALIDATING, _S.PR_OPEN, _S.PASSED, _S.CHANGES_REQUESTED, _S.MERGED, _S.CLOSED}
        | {_S.GENERATING_PROMPT, _S.CANCELLED}
    ),
    _S.PASSED: frozenset(
        {_S.VALIDATING, _S.PASSED, _S.CHANGES_REQUESTED, _S.MERGED, _S.CLOSED}
        | {_S.GENERATING_PROMPT, _S.CANCELLED}
    ),
    _S.CHANGES_REQUESTED: frozenset(
        {_S.VALIDATING, _S.PASSED, _S.CHANGES_REQUESTED, _S.MERGED, _S.CLOSED}
        | {_S.GENERATING_PROMPT, _S.CANCELLED}
    ),
    _S.MERGED: frozenset(),
    # Final statuses: only a retry; a timed-out run's late PR, or a cancel of it.
    _S.CLOSED: frozenset({_S.GENERATING_PROMPT}),
    _S.FAILED: frozenset({_S.GENERATING_PROMPT}),
    _S.CANCELLED: frozenset({_S.GENERATING_PROMPT}),
    _S.TIMED_OUT: frozenset({_S.GENERATING_PROMPT, _S.PR_OPEN, _S.CANCELLED}),
    # An edit (or a new label, or `/codegen run`) resumes it; a cancel.
    _S.NEEDS_INFO: frozenset({_S.QUEUED, _S.CANCELLED}),
}


class IllegalTransition(ValueError):
    """A move the transition table does not list: a bug in the caller."""

    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"a task cannot move from {from_status!s} to {to_status!s}")
        self.from_status = from_status
        self.to_status = to_status


def check_transition(from_status: Iterable[str], to_status: str) -> None:
    """Raise `IllegalTransition` unless each status given may move to `to_status`."""
    to = TaskStatus(to_status)
    for status in from_status:
        if to not in TRANSITIONS[TaskStatus(status)]:
            raise IllegalTransition(status, to)


def sql_list(statuses: Iterable[TaskStatus]) -> str:
    """The statuses as SQL literals in declaration order, for the queries (and the
    partial index's predicate) that must name them in the text."""
    chosen = set(statuses)
    return ", ".join(f"'{s.value}'" for s in TaskStatus if s in chosen)
