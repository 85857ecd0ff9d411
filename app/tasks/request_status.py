"""An attempt's status (a row of `codegen_requests`: its prompt and agent run):
its values, the sets the code asks about, and the moves between them.
`requests_store.move`, the one function that changes an attempt's status,
refuses a move this table does not list. Changes here must match the CHECK
constraint on `codegen_requests.status` (a test compares them)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RequestStatus(StrEnum):
    """Where an attempt stands; stored as its value in `codegen_requests.status`."""

    PREPARED = "prepared"  #: Its prompt is stored; no agent run was asked for yet
    CREATING = "creating"  #: The run is being created; a retry first looks for it
    RUNNING = "running"  #: The agent run exists and works; the bot polls it
    COMPLETE = "complete"  #: The run completed (with or without a pull request)
    FAILED = "failed"  #: Codegen refused the run, or the run failed
    CANCELLED = "cancelled"  #: Stopped with its task, or its run was cancelled
    TIMED_OUT = "timed_out"  #: The run outlived its timeout; it is still watched for a late PR


_S = RequestStatus

# No run was made yet: a stop before the create leaves nothing to follow.
UNMADE = frozenset({_S.PREPARED, _S.CREATING})
# The statuses an attempt whose run was never made can have: the create (or a
# give-up at the deadline) takes it from any of them, whatever an earlier read said.
WITHOUT_RUN = UNMADE | {_S.FAILED, _S.CANCELLED}
# A cancel of the task stops these (a timed-out run is no longer watched).
STOPPABLE = UNMADE | {_S.RUNNING, _S.TIMED_OUT}
# A late look at a timed-out run may still take its pull request.
LATE = frozenset({_S.TIMED_OUT, _S.COMPLETE})
# The run is over as far as polling goes: `finished_at` is set.
ENDED = frozenset({_S.COMPLETE, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT})

# Every move the code makes, and only those. The row of an attempt that never
# got going (stopped, or refused, before its task moved on) is taken up again
# by the task's next retry, which reuses its prompt: hence the moves out of
# `failed` and `cancelled`.
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    # The create starts; the task stopped, or its workflow timed out, first.
    _S.PREPARED: frozenset({_S.CREATING, _S.CANCELLED}),
    # A retried create marks it again; the run is recorded (or, the task having
    # stopped, recorded as stopped); Codegen refused it; the deadline passed; the
    # create limit deferred it before anything was sent (prepared again, so the
    # next try does not look for a run that cannot exist).
    _S.CREATING: frozenset({_S.CREATING, _S.RUNNING, _S.CANCELLED, _S.FAILED, _S.PREPARED}),
    # The run's end, as a poll sees it; a cancel of the task.
    _S.RUNNING: frozenset({_S.COMPLETE, _S.FAILED, _S.CANCELLED, _S.TIMED_OUT}),
    # Its late pull request is taken; a cancel stops the watch. A poll that
    # died after recording the timeout, before the task took it, is retried:
    # it records the run's end as it sees it again (or Codegen's refusal).
    _S.TIMED_OUT: frozenset({_S.COMPLETE, _S.CANCELLED, _S.TIMED_OUT, _S.FAILED}),
    # A late pull request recorded again by a retried look; a retried poll
    # that Codegen now refuses to answer.
    _S.COMPLETE: frozenset({_S.COMPLETE, _S.FAILED}),
    # Refused by Codegen: a retry creates its run after all (or times out). A
    # poll that died after recording the run's failure is retried and records
    # it again before the task's retry or ending.
    _S.FAILED: frozenset({_S.CREATING, _S.CANCELLED, _S.FAILED}),
    # Stopped: a retry creates its run after all (or times out); or, when its
    # run had been made, follows that run to its end.
    _S.CANCELLED: frozenset({_S.CREATING, _S.CANCELLED, _S.COMPLETE, _S.FAILED, _S.TIMED_OUT}),
}


class IllegalRequestMove(ValueError):
    """A move the transition table does not list: a bug in the caller."""

    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"an attempt cannot move from {from_status!s} to {to_status!s}")
        self.from_status = from_status
        self.to_status = to_status


def check_move(from_status: Iterable[str], to_status: str) -> None:
    """Raise `IllegalRequestMove` unless each status given may move to `to_status`."""
    to = RequestStatus(to_status)
    for status in from_status:
        if to not in TRANSITIONS[RequestStatus(status)]:
            raise IllegalRequestMove(status, to)
