"""A follow-up's status: its values, the sets the code asks about, and the
moves between them. `followups.move`, the one function that changes a
follow-up's status, refuses a move this table does not list. Changes here must
match the CHECK constraint on `agent_followups.status` (a test compares them)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class FollowupStatus(StrEnum):
    """Where a follow-up stands; stored as its value in `agent_followups.status`."""

    PENDING = "pending"  #: Recorded with its send job; not yet handed to Codegen
    SENDING = "sending"  #: Being sent to the agent run; a crash here is checked on retry
    RUNNING = "running"  #: The agent took the instructions and works; the bot polls it
    COMPLETE = "complete"  #: The agent finished working on the instructions
    FAILED = "failed"  #: Refused, stopped by a cancel or the PR's end, or timed out


_S = FollowupStatus

# Not sent yet: the send job still has it.
UNSENT = frozenset({_S.PENDING, _S.SENDING})
# The agent has it or is about to: at most one per task at a time, and a cancel
# or the pull request's end stops these.
IN_FLIGHT = UNSENT | {_S.RUNNING}
# Over for good: nothing changes it any more.
FINAL = frozenset({_S.COMPLETE, _S.FAILED})

# Every move the code makes, and only those.
TRANSITIONS: dict[FollowupStatus, frozenset[FollowupStatus]] = {
    # The send job takes it; the task stopped first; its job died.
    _S.PENDING: frozenset({_S.SENDING, _S.FAILED}),
    # A retried send marks it again; the agent took it; refused, stopped, died.
    _S.SENDING: frozenset({_S.SENDING, _S.RUNNING, _S.FAILED}),
    # The agent finished, failed, took too long, or the task stopped.
    _S.RUNNING: frozenset({_S.COMPLETE, _S.FAILED}),
    _S.COMPLETE: frozenset(),
    _S.FAILED: frozenset(),
}


class IllegalFollowupMove(ValueError):
    """A move the transition table does not list: a bug in the caller."""

    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"a follow-up cannot move from {from_status!s} to {to_status!s}")
        self.from_status = from_status
        self.to_status = to_status


def check_move(from_status: Iterable[str], to_status: str) -> None:
    """Raise `IllegalFollowupMove` unless each status given may move to `to_status`."""
    to = FollowupStatus(to_status)
    for status in from_status:
        if to not in TRANSITIONS[FollowupStatus(status)]:
            raise IllegalFollowupMove(status, to)


def values(statuses: Iterable[FollowupStatus]) -> list[str]:
    """The statuses as plain strings, in declaration order, for a SQL parameter."""
    chosen = set(statuses)
    return [s.value for s in FollowupStatus if s in chosen]
