"""The `command_denials` table: when someone without the permission was last
told so on an issue, so the denial replies to one person on one issue are at
most one an hour, across processes and restarts (the reply is the bot's only
write for a refused comment, and anyone can comment without limit)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

REPLY_EVERY_SECONDS = 3600


async def may_reply(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    repository: str,
    number: int,
    actor: str,
    source: str,
    every_seconds: float = REPLY_EVERY_SECONDS,
) -> bool:
    """Take the right to reply to `source` (a comment) about a denial: True when
    no other comment of this person on this issue got one within `every_seconds`,
    or when it was this comment's (a retry posts the same, marked reply again)."""
    got = await conn.fetchval(
        """INSERT INTO command_denials (repository, number, actor, source)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (repository, number, actor) DO UPDATE
               SET source = EXCLUDED.source,
                   replied_at = CASE WHEN command_denials.source = EXCLUDED.source
                                     THEN command_denials.replied_at ELSE now() END
               WHERE command_denials.source = EXCLUDED.source
                  OR command_denials.replied_at <= now() - make_interval(secs => $5)
           RETURNING 1""",
        repository.lower(),
        number,
        actor.lower(),
        source,
        float(every_seconds),
    )
    return got is not None


async def delete_old_batch(
    conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime, limit: int
) -> int:
    """Retention (app/retention): delete at most `limit` denial rows last replied
    before `cutoff` (far past `REPLY_EVERY_SECONDS`, so none still holds a reply
    back); returns how many."""
    result = await conn.execute(
        """DELETE FROM command_denials WHERE (repository, number, actor) IN (
               SELECT repository, number, actor FROM command_denials
               WHERE replied_at < $1
               ORDER BY replied_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return int(result.split()[-1])
