"""The health page's figures: the queue by job kind, the oldest waiting job,
dead jobs with their last error, the deliveries of the last day with their
outcome, and, a read model over app.budgets' and app.limits' tables, the
budgets used today per repository and the shared limiters' state. The queue
and delivery queries read through indexes that keep them independent of how
many jobs finished or deliveries arrived (the partial job indexes of 001/006,
the BRIN index on `received_at`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class KindDepth:
    kind: str
    ready: int
    scheduled: int
    running: int
    dead: int
    oldest_ready_seconds: float | None


@dataclass(frozen=True)
class DeadJob:
    id: int
    kind: str
    attempts: int
    last_error: str | None
    updated_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class RecentDelivery:
    id: str
    event: str
    action: str | None
    status: str
    received_at: datetime
    error: str | None


async def depth_by_kind(conn: asyncpg.Connection | asyncpg.Pool) -> list[KindDepth]:
    rows = await conn.fetch(
        """SELECT kind,
                  count(*) FILTER (WHERE status = 'queued' AND run_at <= now()) AS ready,
                  count(*) FILTER (WHERE status = 'queued' AND run_at > now()) AS scheduled,
                  count(*) FILTER (WHERE status = 'running') AS running,
                  count(*) FILTER (WHERE status = 'dead') AS dead,
                  extract(epoch FROM now() - min(run_at) FILTER (
                      WHERE status = 'queued' AND run_at <= now()))::float8
                      AS oldest_ready_seconds
           FROM jobs WHERE status IN ('queued', 'running', 'dead')
           GROUP BY kind ORDER BY kind"""
    )
    return [KindDepth(**dict(r)) for r in rows]


async def dead_jobs(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 50) -> list[DeadJob]:
    rows = await conn.fetch(
        """SELECT id, kind, attempts, left(last_error, 2000) AS last_error, updated_at,
                  payload::text AS payload
           FROM jobs WHERE status = 'dead' ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [DeadJob(**{**dict(r), "payload": orjson.loads(r["payload"])}) for r in rows]


async def recent_deliveries(
    conn: asyncpg.Connection | asyncpg.Pool, limit: int = 50
) -> list[RecentDelivery]:
    """The newest deliveries of the last day (the BRIN range keeps this from
    sorting the whole table)."""
    rows = await conn.fetch(
        """SELECT id, event, action, status, received_at, left(error, 500) AS error
           FROM webhook_deliveries
           WHERE received_at > now() - interval '1 day'
           ORDER BY received_at DESC LIMIT $1""",
        limit,
    )
    return [RecentDelivery(**dict(r)) for r in rows]


@dataclass(frozen=True)
class BudgetUse:
    repository: str
    runs_today: int
    in_flight: int
    waiting: int
    runs_per_day: int  # the repository's limit when last asked (0: none of its own)
    concurrent: int


@dataclass(frozen=True)
class WindowState:
    key: str
    taken_last_hour: int
    last_taken_at: datetime | None


@dataclass(frozen=True)
class WriteLease:
    installation_id: int
    last_write_at: datetime | None
    released: bool
    taken_at: datetime | None


async def budgets_today(
    conn: asyncpg.Connection | asyncpg.Pool, day_start: datetime, limit: int = 200
) -> list[BudgetUse]:
    """Per repository: agent runs admitted in the UTC day from `day_start`, runs
    in flight, tasks waiting for budget, and the limits they were held to."""
    rows = await conn.fetch(
        """SELECT lower(t.repository) AS repository,
                  count(*) FILTER (WHERE a.admitted_at >= $1
                                     AND a.admitted_at < $1 + interval '1 day') AS runs_today,
                  count(*) FILTER (WHERE a.state = 'admitted') AS in_flight,
                  count(*) FILTER (WHERE a.state = 'waiting') AS waiting,
                  (array_agg(a.repo_runs_per_day ORDER BY a.id DESC))[1] AS runs_per_day,
                  (array_agg(a.repo_concurrent ORDER BY a.id DESC))[1] AS concurrent
           FROM budget_admissions a JOIN tasks t ON t.id = a.task_id
           WHERE a.state IN ('waiting', 'admitted') OR a.admitted_at >= $1
           GROUP BY 1 ORDER BY 1 LIMIT $2""",
        day_start,
        limit,
    )
    return [BudgetUse(**dict(r)) for r in rows]


async def limiter_state(
    conn: asyncpg.Connection | asyncpg.Pool,
) -> tuple[list[WindowState], list[WriteLease]]:
    """The shared create windows (times taken in the last hour) and each
    installation's GitHub write lease."""
    windows = await conn.fetch(
        """SELECT key,
                  (SELECT count(*) FROM unnest(taken) AS x
                   WHERE x > now() - interval '1 hour') AS taken_last_hour,
                  (SELECT max(x) FROM unnest(taken) AS x) AS last_taken_at
           FROM shared_windows ORDER BY key LIMIT 100"""
    )
    leases = await conn.fetch(
        """SELECT installation_id, last_write_at, released, taken_at
           FROM github_write_leases ORDER BY installation_id LIMIT 200"""
    )
    return (
        [WindowState(**dict(r)) for r in windows],
        [WriteLease(**dict(r)) for r in leases],
    )
