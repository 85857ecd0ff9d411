"""The `dashboard_sign_outs` table: sessions ended by signing out, kept until
they would have expired (migrations/022_dashboard_sign_outs.sql)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

Conn = asyncpg.Pool | asyncpg.Connection


async def record(conn: Conn, session_hash: bytes, expires: int) -> None:
    """End a session everywhere, and forget the ended ones already past their end."""
    await conn.execute(
        """WITH gone AS (DELETE FROM dashboard_sign_outs WHERE expires_at < now())
           INSERT INTO dashboard_sign_outs (session_hash, expires_at) VALUES ($1, $2)
           ON CONFLICT (session_hash) DO NOTHING""",
        session_hash,
        datetime.fromtimestamp(expires, UTC),
    )


async def signed_out(conn: Conn, session_hash: bytes) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM dashboard_sign_outs WHERE session_hash = $1)",
            session_hash,
        )
    )
