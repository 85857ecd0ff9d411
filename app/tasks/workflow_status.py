"""A task's workflow record (`workflow_executions`): the status of the record
and of each of its steps, and the moves between the record's statuses.
`workflows_store.finish`, the one function that ends a record, refuses an
ending this table does not list. Changes here must match the CHECK constraint
on `workflow_executions.status` (a test compares them)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class WorkflowStatus(StrEnum):
    """Where a task's workflow record stands; stored in `workflow_executions.status`."""

    RUNNING = "running"  #: The bot's steps from the issue to a pull request are under way
    COMPLETED = "completed"  #: The agent run opened a pull request
    FAILED = "failed"  #: The task failed: refused, its runs failed, or a job died
    CANCELLED = "cancelled"  #: The task was stopped, or its simulated run ended
    TIMED_OUT = "timed_out"  #: The run, or the bot's own steps, outlived their timeout


class StepStatus(StrEnum):
    """Where one step of the record stands (in its `steps` list; a progress view
    that a new attempt runs through again, so no moves are enforced)."""

    PENDING = "pending"  #: Not reached yet
    RUNNING = "running"  #: Under way, for this attempt or a new one
    COMPLETED = "completed"  #: Done; the next step follows
    FAILED = "failed"  #: Did not succeed; the step's detail says why


_W = WorkflowStatus

# The record keeps its first ending: a retry or a late pull request afterwards
# does not reopen it (the tasks table has the task's current status).
TRANSITIONS: dict[WorkflowStatus, frozenset[WorkflowStatus]] = {
    _W.RUNNING: frozenset({_W.COMPLETED, _W.FAILED, _W.CANCELLED, _W.TIMED_OUT}),
    _W.COMPLETED: frozenset(),
    _W.FAILED: frozenset(),
    _W.CANCELLED: frozenset(),
    _W.TIMED_OUT: frozenset(),
}
ENDINGS = TRANSITIONS[_W.RUNNING]


class IllegalWorkflowMove(ValueError):
    """A move the transition table does not list: a bug in the caller."""

    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"a workflow cannot move from {from_status!s} to {to_status!s}")
        self.from_status = from_status
        self.to_status = to_status


def check_move(from_status: Iterable[str], to_status: str) -> None:
    """Raise `IllegalWorkflowMove` unless each status given may move to `to_status`."""
    to = WorkflowStatus(to_status)
    for status in from_status:
        if to not in TRANSITIONS[WorkflowStatus(status)]:
            raise IllegalWorkflowMove(status, to)
