"""The health page's figures: the queue by job kind, the oldest waiting job,
dead jobs with their last error, and the deliveries of the last day with
their outcome. Each query reads through an index that keeps it independent
of how many jobs finished or deliveries arrived (the partial job indexes of
001/006, the BRIN index on `received_at`)."""

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
