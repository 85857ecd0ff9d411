"""Budget decisions without I/O: which waiting requests for an agent run may
start given what is in flight and what started today, which limit holds the
others, and the words people read about it. The admission (`app.budgets.admission`)
reads the counts under the installation's lock, asks here, and persists the
answer; the same counts always give the same plan, so the rules are unit-tested
without a database.

Every limit is a whole number where 0 means no limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum


class Limit(StrEnum):
    """A limit that can hold a request back; stored in `budget_admissions.blocked_by`."""

    REPO_DAILY = "repo_daily"  #: The repository's agent runs per UTC day are used up
    INSTALLATION_DAILY = "installation_daily"  #: The installation's runs per UTC day are used up
    REPO_CONCURRENT = "repo_concurrent"  #: The repository has as many runs in flight as it may
    INSTALLATION_CONCURRENT = "installation_concurrent"  #: So has the installation


DAILY = frozenset({Limit.REPO_DAILY, Limit.INSTALLATION_DAILY})
PER_REPOSITORY = frozenset({Limit.REPO_DAILY, Limit.REPO_CONCURRENT})


@dataclass(frozen=True)
class Limits:
    """Agent runs per UTC day and at once (0: no limit)."""

    runs_per_day: int = 0
    concurrent: int = 0


@dataclass(frozen=True)
class Usage:
    """Runs admitted since the UTC day began, and runs in flight (admitted, not ended)."""

    runs_today: int = 0
    in_flight: int = 0

    def plus_one(self) -> Usage:
        return Usage(self.runs_today + 1, self.in_flight + 1)


@dataclass(frozen=True)
class Waiting:
    """A request for an agent run, in the order it asked."""

    id: int
    repository: str  # lower-cased full name
    limits: Limits  # the repository's, as read when it asked


def tighter(a: int, b: int) -> int:
    """The stricter of two limits where 0 means none."""
    if a == 0:
        return b
    if b == 0:
        return a
    return min(a, b)


def _full(limit: int, used: int) -> bool:
    return limit > 0 and used >= limit


def holding(
    repo_limits: Limits, repo_usage: Usage, installation: Limits, installation_usage: Usage
) -> Limit | None:
    """The limit that holds a request back now, or None when it may start. A
    daily limit is named before a concurrent one: a free slot does not help it."""
    if _full(repo_limits.runs_per_day, repo_usage.runs_today):
        return Limit.REPO_DAILY
    if _full(installation.runs_per_day, installation_usage.runs_today):
        return Limit.INSTALLATION_DAILY
    if _full(repo_limits.concurrent, repo_usage.in_flight):
        return Limit.REPO_CONCURRENT
    if _full(installation.concurrent, installation_usage.in_flight):
        return Limit.INSTALLATION_CONCURRENT
    return None


def plan(
    waiting: Sequence[Waiting],
    repo_usage: Mapping[str, Usage],
    installation: Limits,
    installation_usage: Usage,
) -> list[tuple[Waiting, Limit | None]]:
    """Go through the installation's waiting requests oldest first: each starts
    (None) if no limit holds it, counting it at once for those after it, or
    stays with the limit that holds it. A request held by its repository's
    limit does not hold back a later one of another repository."""
    used = dict(repo_usage)
    overall = installation_usage
    decided: list[tuple[Waiting, Limit | None]] = []
    for request in waiting:
        mine = used.get(request.repository, Usage())
        limit = holding(request.limits, mine, installation, overall)
        if limit is None:
            used[request.repository] = mine.plus_one()
            overall = overall.plus_one()
        decided.append((request, limit))
    return decided


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC day: runs admitted since then count for today."""
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)


def next_reset(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def ahead(limit: Limit, same_repository: int, installation: int) -> int:
    """How many waiting requests go before this one for the limit that holds it:
    those of its repository (`same_repository`) for a repository's limit, all
    the installation's (`installation`) otherwise."""
    return same_repository if limit in PER_REPOSITORY else installation


def _runs(n: int) -> str:
    return f"{n} agent run{'s' * (n != 1)}"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def limit_text(limit: Limit, value: int, resets_at: datetime) -> str:
    """Which limit holds the request, and when it lets go."""
    whose = "this repository's" if limit in PER_REPOSITORY else "the installation's"
    if limit in DAILY:
        return (
            f"{whose} limit of {_runs(value)} a day is used up; it resets at "
            f"{_when(resets_at)}, and the task starts by itself then"
        )
    return (
        f"{whose} limit of {_runs(value)} at once is reached; the task starts by "
        "itself when one of them ends"
    )


def queue_text(limit: Limit, value: int, n_ahead: int, resets_at: datetime) -> str:
    """The tracking comment's line for a task waiting in the budget queue."""
    position = "first in line" if n_ahead == 0 else f"{n_ahead} ahead of this one"
    return (
        f"**Waiting for budget** ({position}): {limit_text(limit, value, resets_at)}. "
        "`/codegen cancel` takes it out of the queue."
    )


def _left(limits: Limits, usage: Usage) -> str:
    if limits.runs_per_day:
        left = max(0, limits.runs_per_day - usage.runs_today)
        daily = f"{left} of {limits.runs_per_day} agent runs left today"
    else:
        daily = f"no daily limit ({usage.runs_today} started today)"
    if limits.concurrent:
        at_once = f"{usage.in_flight} of {limits.concurrent} at once in use"
    else:
        at_once = f"{usage.in_flight} in flight, no limit at once"
    return f"{daily}, {at_once}"


def budget_lines(
    repo_limits: Limits,
    repo_usage: Usage,
    installation: Limits,
    installation_usage: Usage,
    resets_at: datetime,
) -> list[str]:
    """`/codegen status`: what is left today for the repository and the installation."""
    return [
        f"- Budget, this repository: {_left(repo_limits, repo_usage)}",
        f"- Budget, the installation: {_left(installation, installation_usage)}",
        f"- Daily budgets reset at {_when(resets_at)}",
    ]


def review_fix_refusal(task_id: int, used: int, most: int) -> str | None:
    """Why a review fix (`/codegen fix`, "Fix with Codegen") is refused, or None:
    at most `most` per task (`review_fix.max`; 0 turns them off)."""
    if most == 0:
        return (
            "review fixes are turned off for this repository (`review_fix.max: 0` in "
            "`.github/codegen.yml`), so nothing was sent to the agent."
        )
    if used >= most:
        return (
            f"task {task_id} has had its {most} review fix{'es' * (most != 1)} "
            "(`review_fix.max` in `.github/codegen.yml`, or the installation's limit), so "
            "nothing was sent to the agent. Fix the pull request by hand, or "
            "`/codegen retry` for a new attempt."
        )
    return None
