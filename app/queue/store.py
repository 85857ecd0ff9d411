"""The `jobs` table: every query the queue makes, in one place.

Claiming uses `FOR UPDATE SKIP LOCKED`, so any number of worker processes can
share the table; a claimed job carries a lease that a live worker renews and a
dead one lets expire."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

NOTIFY_CHANNEL = "codegen_jobs"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    run_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            payload=orjson.loads(row["payload"]),
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            run_at=row["run_at"],
        )


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to `base` s."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


async def enqueue(
    conn: asyncpg.Connection | asyncpg.Pool,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    delay: float = 0.0,
    dedup_key: str | None = None,
    max_attempts: int = 8,
) -> int | None:
    """Add a job; with a `dedup_key` already used, add nothing and return None."""
    return await conn.fetchval(
        """INSERT INTO jobs (kind, payload, run_at, dedup_key, max_attempts)
           VALUES ($1, $2::jsonb, now() + make_interval(secs => $3), $4, $5)
           ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
           RETURNING id""",
        kind,
        orjson.dumps(payload or {}).decode(),
        delay,
        dedup_key,
        max_attempts,
    )


async def payload_for_key(
    conn: asyncpg.Connection | asyncpg.Pool, dedup_key: str
) -> dict[str, Any] | None:
    """The payload of the job added under `dedup_key`, in whatever state: what a
    later step reads to know what an earlier one was asked to do."""
    raw = await conn.fetchval("SELECT payload FROM jobs WHERE dedup_key = $1", dedup_key)
    return None if raw is None else orjson.loads(raw)


async def has_pending(conn: asyncpg.Connection | asyncpg.Pool, kind: str) -> bool:
    """Whether a job of `kind` is queued or running (read through the partial
    indexes of both states, never the finished jobs)."""
    return await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND kind = $1)
               OR EXISTS (SELECT 1 FROM jobs WHERE status = 'running' AND kind = $1)""",
        kind,
    )


# The kind claimed before every other ready job: a delivery's job is what a
# person waits on (a label's 👀 is written by it), and is short. Named here as a
# string (app/deliveries/store.py DELIVERY_JOB_KIND; the queue knows no kinds'
# modules) and written as a literal in `claim`, where it must match the
# predicate of the `jobs_ready_others` index (migration 023).
FIRST_KIND = "delivery"
# ...but only by this long: a job of another kind ready longer than that before
# a delivery goes first, so a steady stream of deliveries never starves it.
FIRST_KINDS_LEAD_SECONDS = 30.0


async def claim(pool: asyncpg.Pool, owner: str, limit: int, lease_seconds: float) -> list[Job]:
    """Up to `limit` ready jobs, oldest first, those of `FIRST_KIND` counted as
    ready `FIRST_KINDS_LEAD_SECONDS` earlier: a slow job enqueued just before
    never holds a delivery's slot, and one waiting longer is not starved. The
    deliveries' part walks `jobs_ready`, the others' `jobs_ready_others`, which
    holds no delivery: a backlog of deliveries costs it nothing. Rows locked but
    not taken are let go as the statement ends."""
    rows = await pool.fetch(
        """WITH first AS (
               SELECT id, run_at FROM jobs
               WHERE status = 'queued' AND run_at <= now() AND kind = 'delivery'
               ORDER BY run_at, id
               LIMIT $3
               FOR UPDATE SKIP LOCKED
           ), rest AS (
               SELECT id, run_at FROM jobs
               WHERE status = 'queued' AND run_at <= now() AND kind <> 'delivery'
               ORDER BY run_at, id
               LIMIT $3
               FOR UPDATE SKIP LOCKED
           ), picked AS (
               SELECT id FROM (
                   SELECT id, run_at - make_interval(secs => $4) AS run_at, 0 AS part
                   FROM first
                   UNION ALL
                   SELECT id, run_at, 1 AS part FROM rest
               ) AS ready
               ORDER BY run_at, part, id
               LIMIT $3
           )
           UPDATE jobs SET status = 'running', attempts = attempts + 1,
                  lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2),
                  updated_at = now()
           WHERE id IN (SELECT id FROM picked)
           RETURNING id, kind, payload::text AS payload, attempts, max_attempts, run_at""",
        owner,
        lease_seconds,
        limit,
        FIRST_KINDS_LEAD_SECONDS,
    )
    return sorted(
        (Job.from_row(r) for r in rows), key=lambda j: (j.kind != FIRST_KIND, j.run_at, j.id)
    )


async def renew_leases(
    pool: asyncpg.Pool, owner: str, job_ids: list[int], lease_seconds: float
) -> None:
    await pool.execute(
        """UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
           WHERE id = ANY($2::bigint[]) AND lease_owner = $1 AND status = 'running'""",
        owner,
        job_ids,
        lease_seconds,
    )


async def complete(pool: asyncpg.Pool, job_id: int, owner: str) -> bool:
    result = await pool.execute(
        """UPDATE jobs SET status = 'done', finished_at = now(), updated_at = now(),
                  lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'""",
        job_id,
        owner,
    )
    return result.endswith(" 1")


async def fail(
    pool: asyncpg.Pool, job: Job, owner: str, error: str, *, retry_base: float = 2.0
) -> str:
    """Schedule a retry with backoff, or mark the job dead; returns the new status."""
    status = "dead" if job.attempts >= job.max_attempts else "queued"
    await pool.execute(
        """UPDATE jobs SET status = $3, last_error = $4, updated_at = now(),
                  run_at = CASE WHEN $3 = 'queued' THEN now() + make_interval(secs => $5)
                                ELSE run_at END,
                  finished_at = CASE WHEN $3 = 'dead' THEN now() END,
                  lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2""",
        job.id,
        owner,
        status,
        error[:8000],
        backoff_seconds(job.attempts, base=retry_base),
    )
    return status


async def reschedule(
    pool: asyncpg.Pool, job_id: int, owner: str, delay: float, reason: str
) -> None:
    """Run the job again later without counting this try as an attempt."""
    await pool.execute(
        """UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
                  run_at = now() + make_interval(secs => $3), last_error = $4,
                  lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'""",
        job_id,
        owner,
        delay,
        reason,
    )


async def release(pool: asyncpg.Pool, owner: str, job_ids: list[int]) -> int:
    """Hand unfinished jobs back at shutdown without counting the attempt."""
    if not job_ids:
        return 0
    result = await pool.execute(
        """UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0),
                  lease_owner = NULL, lease_expires_at = NULL, run_at = now(),
                  updated_at = now()
           WHERE id = ANY($2::bigint[]) AND lease_owner = $1 AND status = 'running'""",
        owner,
        job_ids,
    )
    await pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return int(result.split()[-1])


async def reclaim_expired(
    pool: asyncpg.Pool, owner: str, lease_seconds: float
) -> tuple[int, list[Job]]:
    """Jobs whose worker died: back to the queue, or, when out of attempts, leased
    to `owner` for their clean-up, which `bury` ends. A job is never dead before its
    clean-up ran: a reaper that dies meanwhile leaves it to the next one.
    Returns how many were reclaimed and the ones to clean up and bury."""
    rows = await pool.fetch(
        """UPDATE jobs SET
                  status = CASE WHEN attempts >= max_attempts THEN 'running' ELSE 'queued' END,
                  last_error = 'lease expired: the worker holding it stopped responding',
                  lease_owner = CASE WHEN attempts >= max_attempts THEN $1 END,
                  lease_expires_at = CASE WHEN attempts >= max_attempts
                                          THEN now() + make_interval(secs => $2) END,
                  run_at = now(), updated_at = now()
           WHERE status = 'running' AND lease_expires_at < now()
           RETURNING id, kind, payload::text AS payload, attempts, max_attempts, run_at, status""",
        owner,
        lease_seconds,
    )
    return len(rows), [Job.from_row(r) for r in rows if r["status"] == "running"]


async def record_error(pool: asyncpg.Pool, job_id: int, owner: str, error: str) -> None:
    """Keep why a job failed for good while its lease is still held, so its
    clean-up (which reads `last_error`) runs before the job is marked dead."""
    await pool.execute(
        "UPDATE jobs SET last_error = $3, updated_at = now() WHERE id = $1 AND lease_owner = $2",
        job_id,
        owner,
        error[:8000],
    )


async def bury(pool: asyncpg.Pool, job_id: int, owner: str) -> None:
    """Mark a cleaned-up job dead (`reclaim_expired` leased it for that)."""
    await pool.execute(
        """UPDATE jobs SET status = 'dead', finished_at = now(), updated_at = now(),
                  lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2 AND status = 'running'""",
        job_id,
        owner,
    )


async def last_error(conn: asyncpg.Connection | asyncpg.Pool, job_id: int) -> str | None:
    """The first line of why a job last failed (its traceback follows in the row)."""
    error = await conn.fetchval("SELECT last_error FROM jobs WHERE id = $1", job_id)
    return error.splitlines()[0] if error else None


async def seconds_until_next(pool: asyncpg.Pool) -> float | None:
    """Seconds until the next queued job is due; None when none is queued (the
    worker then waits for a NOTIFY or its poll). `greatest` skips NULLs, so an
    empty queue must not reach it: it would say 0 and the worker would spin."""
    return await pool.fetchval(
        """SELECT CASE WHEN min(run_at) IS NOT NULL
                       THEN greatest(0, extract(epoch FROM min(run_at) - now()))::float8 END
           FROM jobs WHERE status = 'queued'"""
    )


# Each figure reads one partial index (jobs_ready, jobs_leased, jobs_dead), never
# the finished jobs: they are nearly all of the table and are kept, so a scan of
# `status <> 'done'` grew with every job ever run (a sequential scan at 10
# million rows; benchmarks/README.md).
QUEUE_STATS = """
SELECT (SELECT count(*) FROM jobs WHERE status = 'queued' AND run_at <= now()) AS ready,
       (SELECT count(*) FROM jobs WHERE status = 'queued' AND run_at > now()) AS scheduled,
       (SELECT count(*) FROM jobs WHERE status = 'running') AS running,
       (SELECT count(*) FROM jobs WHERE status = 'dead') AS dead,
       coalesce(extract(epoch FROM now() - (SELECT min(run_at) FROM jobs
                                            WHERE status = 'queued' AND run_at <= now())),
                0)::float8 AS oldest_ready_age
"""


async def queue_stats(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Any]:
    """Jobs ready, scheduled, running and dead, and how long the oldest ready one
    has waited: what /health and /metrics report, in time independent of how
    many jobs have finished."""
    row = await conn.fetchrow(QUEUE_STATS)
    return dict(row)


# For operators (`codegen-bot jobs ...`).
JOB_STATUSES = ("queued", "running", "done", "dead")
RETRYABLE = ("dead", "queued")


@dataclass(frozen=True)
class JobSummary:
    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    run_at: datetime
    updated_at: datetime
    last_error: str | None


async def list_jobs(
    conn: asyncpg.Connection | asyncpg.Pool, status: str | None, limit: int
) -> list[JobSummary]:
    """Newest first; with no status, the unfinished ones (queued, running, dead),
    each status read through its partial index."""
    rows = await conn.fetch(
        """SELECT id, kind, status, attempts, max_attempts, run_at, updated_at,
                  split_part(last_error, E'\\n', 1) AS last_error
           FROM jobs
           WHERE CASE WHEN $1::text IS NULL THEN status <> 'done' ELSE status = $1 END
           ORDER BY id DESC
           LIMIT $2""",
        status,
        limit,
    )
    return [JobSummary(**{**dict(r), "last_error": r["last_error"] or None}) for r in rows]


async def retry(conn: asyncpg.Connection | asyncpg.Pool, job_id: int) -> str | None:
    """Run a dead or waiting job now, with all its attempts again. Returns the
    status it had (a running or done job is left alone), None when there is no
    such job."""
    status = await conn.fetchval(
        """WITH target AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
                retried AS (
                    UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(),
                           finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
                           updated_at = now()
                    FROM target
                    WHERE jobs.id = target.id AND target.status IN ('dead', 'queued')
                    RETURNING jobs.id)
           SELECT status FROM target""",
        job_id,
    )
    if status in RETRYABLE:
        # The trigger wakes workers on INSERT only; this job was updated.
        await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return status


async def delete_finished_batch(
    conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime, limit: int
) -> int:
    """Retention (app/retention): delete at most `limit` jobs that ended (`done` or
    `dead`) before `cutoff`, oldest first through `jobs_finished` (migration 008);
    returns how many. A job retried meanwhile is `queued` again when its locked
    row is re-checked, so it is skipped; queued and running jobs are never read."""
    result = await conn.execute(
        """DELETE FROM jobs WHERE id IN (
               SELECT id FROM jobs
               WHERE status IN ('done', 'dead') AND finished_at < $1
               ORDER BY finished_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return int(result.split()[-1])
