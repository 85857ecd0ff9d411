"""The `commands` table: every `/codegen` line the bot has read, keyed by the
comment and the line, so a comment is acted on once however often GitHub
delivers it (a redelivery has another GUID but the same comment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

RECEIVED = "received"
FINISHED = ("done", "failed", "denied")


@dataclass(frozen=True)
class LoggedCommand:
    id: int
    key: str
    repository: str
    number: int
    verb: str
    args: str
    actor: str
    delivery_id: str | None
    status: str
    reply: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> LoggedCommand:
        return cls(**dict(row))


_COLUMNS = """id, key, repository, number, verb, args, actor, delivery_id, status, reply,
    created_at, finished_at"""


def command_key(kind: str, source_id: int, line: int) -> str:
    """`cmd:<issue_comment|review_comment|review>:<id>:<line>`: one per command line."""
    return f"cmd:{kind}:{source_id}:{line}"


async def claim(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    key: str,
    repository: str,
    number: int,
    verb: str,
    args: str,
    actor: str,
    delivery_id: str | None,
) -> tuple[LoggedCommand, bool]:
    """(the command's row, whether this call made it) — a repeated key returns the first."""
    row = await conn.fetchrow(
        f"""INSERT INTO commands (key, repository, number, verb, args, actor, delivery_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (key) DO NOTHING
            RETURNING {_COLUMNS}""",  # noqa: S608 - column names are ours, values are bound
        key,
        repository,
        number,
        verb,
        args,
        actor,
        delivery_id,
    )
    if row is not None:
        return LoggedCommand.from_row(row), True
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM commands WHERE key = $1", key)  # noqa: S608
    return LoggedCommand.from_row(row), False


async def get(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> LoggedCommand | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM commands WHERE key = $1", key)  # noqa: S608
    return LoggedCommand.from_row(row) if row else None


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool, key: str, status: str, reply: str | None
) -> bool:
    """Record how a received command ended; False when it had ended already."""
    if status not in FINISHED:
        raise ValueError(f"status must be one of {FINISHED}, not {status!r}")
    done = await conn.fetchval(
        """UPDATE commands SET status = $2, reply = $3, finished_at = now()
           WHERE key = $1 AND status = 'received'
           RETURNING id""",
        key,
        status,
        reply,
    )
    return done is not None


STARTED = "(started)"  # `reply` of a received command whose action has begun


async def mark_started(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> None:
    """Note that a command's action is about to run, before it runs: a retry after
    a crash then knows not to start a second attempt or validation."""
    await conn.execute(
        "UPDATE commands SET reply = $2 WHERE key = $1 AND status = 'received'", key, STARTED
    )


async def delete_old_batch(
    conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime, limit: int
) -> int:
    """Retention (app/retention): delete at most `limit` ledger rows made before
    `cutoff` whose delivery is no longer stored; returns how many. A row is what
    makes its comment act once, so it goes only when nothing can bring the comment
    back: GitHub redelivers for 3 days (the cutoff is at least a week old),
    edited comments are not obeyed, and an operator's replay needs the stored
    delivery, which retention deletes first and only once its job has finished."""
    result = await conn.execute(
        """DELETE FROM commands WHERE id IN (
               SELECT c.id FROM commands c
               WHERE c.created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = c.delivery_id)
               ORDER BY c.created_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED)""",
        cutoff,
        limit,
    )
    return int(result.split()[-1])
