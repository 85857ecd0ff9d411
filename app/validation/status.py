"""A validation's status: its values, the sets the code asks about, and the
moves between them. `validations.transition`, the one function that changes a
validation's status, refuses a move this table does not list. Changes here must
match the CHECK constraint on `validations.status` (a test compares them).

A validation's verdict (its `conclusion`: success, neutral, failure, cancelled)
is GitHub's check-run vocabulary, not a state of ours, and is not listed here."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ValidationStatus(StrEnum):
    """Where a validation stands; stored as its value in `validations.status`."""

    QUEUED = "queued"  #: Asked for: its job has not created the check run yet
    IN_PROGRESS = "in_progress"  #: The check run is out; the diff is being analysed
    WAITING_CI = "waiting_ci"  #: Analysed; waiting, without a worker, for the repository's CI
    COMPLETED = "completed"  #: Concluded: the verdict is on the check run (CI may still change it)
    SUPERSEDED = "superseded"  #: A newer push or validation (or the PR's end) replaced it


_S = ValidationStatus

# Not yet concluded: a newer push supersedes these (the partial index
# `validations_open` has this predicate).
OPEN = frozenset({_S.QUEUED, _S.IN_PROGRESS, _S.WAITING_CI})
# Nothing more is posted for it, except a CI change to a completed verdict.
FINAL = frozenset({_S.COMPLETED, _S.SUPERSEDED})

# Every move the code makes, and only those: from a status to the statuses it may take.
TRANSITIONS: dict[ValidationStatus, frozenset[ValidationStatus]] = {
    # Its job creates the check run; or gives up before (concluded `neutral`).
    _S.QUEUED: frozenset({_S.IN_PROGRESS, _S.COMPLETED, _S.SUPERSEDED}),
    # CI has not reported yet, or has: the verdict.
    _S.IN_PROGRESS: frozenset({_S.WAITING_CI, _S.COMPLETED, _S.SUPERSEDED}),
    # Woken (by CI or the deadline) to wait again, or to conclude.
    _S.WAITING_CI: frozenset({_S.WAITING_CI, _S.COMPLETED, _S.SUPERSEDED}),
    # A re-run of the same commit is a new validation: a final status stays.
    _S.COMPLETED: frozenset(),
    _S.SUPERSEDED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the transition table does not list: a bug in the caller."""

    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"a validation cannot move from {from_status!s} to {to_status!s}")
        self.from_status = from_status
        self.to_status = to_status


def check_transition(from_status: Iterable[str], to_status: str) -> None:
    """Raise `IllegalTransition` unless each status given may move to `to_status`."""
    to = ValidationStatus(to_status)
    for status in from_status:
        if to not in TRANSITIONS[ValidationStatus(status)]:
            raise IllegalTransition(status, to)
