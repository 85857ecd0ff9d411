"""The SQL of the shared limits (tables and functions: migrations/009_shared_limits.sql
and 017_settled_window_places.sql)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection


async def take_window_place(
    db: Executor, key: str, limit: int, window: float
) -> tuple[float, datetime | None]:
    """Take a place in window `key` when one is free: (0.0, when it was taken,
    by the database's clock: what `settle_window_place` is later given); else
    (the seconds until one is free, None), taking nothing. One statement."""
    row = await db.fetchrow(
        "SELECT wait, taken_at FROM take_window_place($1, $2, $3)", key, max(1, limit), window
    )
    return float(row["wait"]), row["taken_at"]


async def settle_window_place(db: Executor, key: str, taken_at: datetime) -> None:
    """The create the place at `taken_at` was for has its answer: count the place
    from now, a time at or after the request arrived."""
    await db.execute("SELECT settle_window_place($1, $2)", key, taken_at)


async def window_delay(db: Executor, key: str, limit: int, window: float) -> float:
    """Seconds until window `key` has a free place (0.0 now), taking nothing."""
    value = await db.fetchval(
        """SELECT extract(epoch FROM (
                      SELECT t FROM unnest(taken) AS t
                      WHERE t > clock_timestamp() - make_interval(secs => $3)
                      ORDER BY t DESC OFFSET $2 - 1 LIMIT 1
                  ) + make_interval(secs => $3) - clock_timestamp())
           FROM shared_windows WHERE key = $1""",
        key,
        max(1, limit),
        window,
    )
    return max(0.0, float(value)) if value is not None else 0.0


async def take_write_lease(conn: asyncpg.Connection, installation_id: int) -> float | None:
    """Take the installation's write lease on `conn`'s session: None when another
    session holds it, else the seconds since the last write made there."""
    value = await conn.fetchval("SELECT take_github_write_lease($1)", installation_id)
    return float(value) if value is not None else None


async def write_lease_free(conn: asyncpg.Connection, installation_id: int) -> bool:
    """Whether no other session holds the installation's write lease, taking
    nothing (a transaction lock, let go as the statement ends) and without the
    look through pg_locks `take_write_lease` makes: what a wait polls with.
    A statement of its own: the function would take this statement's lock
    for one its session already holds."""
    return bool(
        await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('github-writes:' || $1::bigint, 0))",
            installation_id,
        )
    )


async def record_last_write(
    conn: asyncpg.Connection, installation_id: int, seconds_ago: float | None
) -> None:
    """Before letting go: when the last write ended (None: no write this time),
    committed before the lock is released so the next holder reads it."""
    await conn.execute(
        """UPDATE github_write_leases
           SET released = true,
               last_write_at = CASE WHEN $2::float8 IS NULL THEN last_write_at
                                    ELSE clock_timestamp() - make_interval(secs => $2::float8)
                               END
           WHERE installation_id = $1""",
        installation_id,
        seconds_ago,
    )


async def release_write_lease(conn: asyncpg.Connection, installation_id: int) -> bool:
    """Let go of the installation's write lease held by `conn`'s session."""
    return bool(
        await conn.fetchval(
            "SELECT pg_advisory_unlock(hashtextextended('github-writes:' || $1::bigint, 0))",
            installation_id,
        )
    )


async def lease_holder(db: Executor, installation_id: int) -> int | None:
    """The backend pid holding the installation's write lease, if any (for
    operators and tests: which session to look at, or terminate)."""
    return await db.fetchval(
        """SELECT l.pid FROM pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND ((l.classid::bigint << 32) | l.objid::bigint)
                 = hashtextextended('github-writes:' || $1::bigint, 0)""",
        installation_id,
    )
