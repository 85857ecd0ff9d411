"""The `delivery_sweep` row: where the last complete sweep of GitHub's delivery
log ended. A sweep holds the row locked in its transaction, which is also what
keeps two processes from sweeping at once."""

from __future__ import annotations

import asyncpg

# Returned by `lock_position` when another process is sweeping.
BUSY = object()


async def lock_position(conn: asyncpg.Connection) -> int | object | None:
    """In the caller's transaction: the newest delivery id the last sweep read
    (None before the first), or BUSY when another sweep holds the row."""
    row = await conn.fetchrow(
        "SELECT last_delivery_id FROM delivery_sweep WHERE id = 1 FOR UPDATE SKIP LOCKED"
    )
    if row is None:
        return BUSY
    return row["last_delivery_id"]


async def save_position(conn: asyncpg.Connection, last_delivery_id: int | None) -> None:
    """In the caller's transaction, after a sweep that completed."""
    await conn.execute(
        """UPDATE delivery_sweep SET last_delivery_id = coalesce($1, last_delivery_id),
                  swept_at = now()
           WHERE id = 1""",
        last_delivery_id,
    )


async def position(conn: asyncpg.Connection | asyncpg.Pool) -> int | None:
    """Where the next sweep stops (for tests and operators)."""
    return await conn.fetchval("SELECT last_delivery_id FROM delivery_sweep WHERE id = 1")
