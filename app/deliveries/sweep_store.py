"""The `delivery_sweep` row: where the last complete sweep of GitHub's delivery
log ended, and the lease of the sweep under way. The lease (not a row lock held
in an open transaction) is what keeps two processes from sweeping at once: each
statement here is its own short transaction, and a lease whose process died
runs out by itself."""

from __future__ import annotations

import asyncpg

# Returned by `take` when another process is sweeping.
BUSY = object()


async def take(pool: asyncpg.Pool, owner: str, seconds: float) -> int | object | None:
    """Lease the sweep for `seconds`: the newest delivery id the last sweep read
    (None before the first), or BUSY while another live sweep holds the lease."""
    row = await pool.fetchrow(
        """UPDATE delivery_sweep
              SET lease_owner = $1, leased_until = now() + make_interval(secs => $2)
            WHERE id = 1 AND (leased_until IS NULL OR leased_until < now())
        RETURNING last_delivery_id""",
        owner,
        seconds,
    )
    if row is None:
        return BUSY
    return row["last_delivery_id"]


async def extend(pool: asyncpg.Pool, owner: str, seconds: float) -> bool:
    """Keep the lease for `seconds` more; False if it ran out and was taken."""
    done = await pool.execute(
        """UPDATE delivery_sweep SET leased_until = now() + make_interval(secs => $2)
            WHERE id = 1 AND lease_owner = $1 AND leased_until >= now()""",
        owner,
        seconds,
    )
    return done == "UPDATE 1"


async def finish(pool: asyncpg.Pool, owner: str, last_delivery_id: int | None) -> bool:
    """After a sweep that completed: save where it ended and free the lease.
    False (nothing saved) if the lease was lost meanwhile."""
    done = await pool.execute(
        """UPDATE delivery_sweep SET last_delivery_id = coalesce($2, last_delivery_id),
                  swept_at = now(), lease_owner = NULL, leased_until = NULL
            WHERE id = 1 AND lease_owner = $1""",
        owner,
        last_delivery_id,
    )
    return done == "UPDATE 1"


async def release(pool: asyncpg.Pool, owner: str) -> None:
    """After a sweep that failed: free the lease, the position unchanged."""
    await pool.execute(
        """UPDATE delivery_sweep SET lease_owner = NULL, leased_until = NULL
            WHERE id = 1 AND lease_owner = $1""",
        owner,
    )


async def position(conn: asyncpg.Connection | asyncpg.Pool) -> int | None:
    """Where the next sweep stops (for tests and operators)."""
    return await conn.fetchval("SELECT last_delivery_id FROM delivery_sweep WHERE id = 1")
