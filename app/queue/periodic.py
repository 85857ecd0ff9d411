"""Periodic jobs as rows in the jobs table: no second scheduler.

Time is cut into periods of `every` seconds counted from the Unix epoch; the
occurrence of period `k` is a job with the dedup key `periodic:{kind}:{k}`, so
any number of processes that try to add it add one row. Each occurrence adds
the next one before it does its work (a failing run does not break the chain),
and every worker ensures at start-up that one occurrence is pending: a restart
neither adds a second one nor loses the next."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.queue import store as jobs_sql

# A periodic run that fails is retried a little, then left to the next period.
PERIODIC_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Schedule:
    """A periodic kind with its period in seconds (already read from settings)."""

    kind: str
    every: float


def dedup_key(kind: str, period: int) -> str:
    return f"periodic:{kind}:{period}"


def period_of(moment: float, every: float) -> int:
    """The index of the period `moment` (epoch seconds) falls in."""
    return math.floor(moment / every)


def next_period(current: int, moment: float, every: float) -> int:
    """The period after `current`, or after now if `current` is long past (a
    worker that was down for hours runs one catch-up occurrence, not hundreds)."""
    return max(current, period_of(moment, every)) + 1


def occurrence_payload(period: int, every: float, due: float) -> dict[str, Any]:
    return {"period": period, "every": every, "due": due}


async def enqueue_occurrence(
    pool: asyncpg.Pool, kind: str, every: float, period: int, *, now: float | None = None
) -> int | None:
    """Add period `period`'s occurrence, due at its start (now if that is past);
    None when it already exists."""
    now = time.time() if now is None else now
    due = max(period * every, now)
    return await jobs_sql.enqueue(
        pool,
        kind,
        occurrence_payload(period, every, due),
        delay=max(0.0, due - now),
        dedup_key=dedup_key(kind, period),
        max_attempts=PERIODIC_MAX_ATTEMPTS,
    )


async def ensure(pool: asyncpg.Pool, schedule: Schedule, *, now: float | None = None) -> int | None:
    """At start-up: make sure one occurrence of `schedule` is pending. The
    current period's runs now unless it already ran (or is queued); if it did,
    the next period's is added unless it exists. Returns the id added, if any."""
    now = time.time() if now is None else now
    current = period_of(now, schedule.every)
    for period in (current, current + 1):
        if await jobs_sql.has_pending(pool, schedule.kind):
            return None
        added = await enqueue_occurrence(pool, schedule.kind, schedule.every, period, now=now)
        if added is not None:
            return added
    return None
