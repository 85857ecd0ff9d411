"""The two state columns of `pull_requests`, as enums matching their CHECK
constraints (a test compares them).

Neither has a transition table: `state` mirrors what GitHub says of the pull
request (the bot records it, it does not decide it), and `ci_fix_outcome` is
written once in practice: a pass is recorded only while it is unset, and no
automatic fix (nor its running out) is asked for once it is set."""

from __future__ import annotations

from enum import StrEnum


class PullRequestState(StrEnum):
    """The pull request on GitHub; stored in `pull_requests.state`."""

    OPEN = "open"  #: Open (or reopened): its new heads are validated
    CLOSED = "closed"  #: Closed without merging: its validations stopped
    MERGED = "merged"  #: Merged, by a person or by the bot's auto-merge


class CiFixOutcome(StrEnum):
    """How automatic CI fixes of the pull request ended; stored in
    `pull_requests.ci_fix_outcome`, NULL until then."""

    PASSED = "passed"  #: CI passed on a head after at least one automatic fix
    EXHAUSTED = "exhausted"  #: CI still failed when the automatic fixes ran out
