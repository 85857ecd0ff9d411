"""The `agent_followups` table: instructions sent to a task's agent run after
it finished (a `/codegen fix`, the "Fix with Codegen" button, a CI failure),
each keyed by what asked for it so it is sent once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Followup:
    id: int
    task_id: int
    pull_request_id: int | None
    kind: str
    key: str
    agent_run_id: int
    instructions: str
    requested_by: str
    status: str
    error: str | None
    polls: int
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Followup:
        return cls(**dict(row))


_COLUMNS = """id, task_id, pull_request_id, kind, key, agent_run_id, instructions, requested_by,
    status, error, polls, created_at, sent_at, finished_at"""


async def create(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    task_id: int,
    pull_request_id: int | None,
    kind: str,
    key: str,
    agent_run_id: int,
    instructions: str,
    requested_by: str,
) -> tuple[Followup, bool]:
    """(the follow-up, whether this call made it) — a repeated key returns the first."""
    row = await conn.fetchrow(
        f"""INSERT INTO agent_followups
                (task_id, pull_request_id, kind, key, agent_run_id, instructions, requested_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (key) DO NOTHING
            RETURNING {_COLUMNS}""",  # noqa: S608
        task_id,
        pull_request_id,
        kind,
        key,
        agent_run_id,
        instructions,
        requested_by,
    )
    if row is not None:
        return Followup.from_row(row), True
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM agent_followups WHERE key = $1",  # noqa: S608
        key,
    )
    return Followup.from_row(row), False


async def get(conn: asyncpg.Connection | asyncpg.Pool, followup_id: int) -> Followup | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM agent_followups WHERE id = $1",  # noqa: S608
        followup_id,
    )
    return Followup.from_row(row) if row else None


async def for_task(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> list[Followup]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM agent_followups WHERE task_id = $1 ORDER BY id",  # noqa: S608
        task_id,
    )
    return [Followup.from_row(r) for r in rows]


async def in_flight(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> Followup | None:
    """A follow-up the agent is still working on, if any."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM agent_followups
            WHERE task_id = $1 AND status IN ('pending', 'sending', 'running')
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        task_id,
    )
    return Followup.from_row(row) if row else None


async def update(conn: asyncpg.Connection | asyncpg.Pool, followup_id: int, **fields: Any) -> None:
    sets, values = [], [followup_id]
    for name, value in fields.items():
        values.append(value)
        sets.append(f"{name} = ${len(values)}")
    if fields.get("status") == "running":
        sets.append("sent_at = coalesce(sent_at, now())")
    if fields.get("status") in ("complete", "failed"):
        sets.append("finished_at = coalesce(finished_at, now())")
    await conn.execute(
        f"UPDATE agent_followups SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        *values,
    )


async def stop_for_task(conn: asyncpg.Connection | asyncpg.Pool, task_id: int, reason: str) -> int:
    """End the task's unfinished follow-ups: their jobs see it and stop. How many."""
    result = await conn.execute(
        """UPDATE agent_followups SET status = 'failed', error = $2,
                  finished_at = coalesce(finished_at, now())
           WHERE task_id = $1 AND status IN ('pending', 'sending', 'running')""",
        task_id,
        reason,
    )
    return int(result.split()[-1])


async def move(
    conn: asyncpg.Connection | asyncpg.Pool,
    followup_id: int,
    from_status: tuple[str, ...],
    to_status: str,
    error: str | None = None,
) -> bool:
    """Change the status only from the ones given: False when something else (a
    cancel, the PR's end) stopped the follow-up first, which must stand."""
    result = await conn.execute(
        """UPDATE agent_followups SET status = $3, error = coalesce($4, error),
                  sent_at = CASE WHEN $3 = 'running' THEN coalesce(sent_at, now()) ELSE sent_at END,
                  finished_at = CASE WHEN $3 IN ('complete', 'failed')
                                     THEN coalesce(finished_at, now()) ELSE finished_at END
           WHERE id = $1 AND status = ANY($2::text[])""",
        followup_id,
        list(from_status),
        to_status,
        error,
    )
    return result.endswith(" 1")


def lock_key(task_id: int) -> str:
    """One writer of a task's follow-ups at a time: two requests at once must not
    both find the agent free and both resume it, and a cancel must not pass a send."""
    return f"followups:task:{task_id}"


async def exists(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> bool:
    """A follow-up was recorded for this key (what asked for it), whatever became of it."""
    return bool(await conn.fetchval("SELECT 1 FROM agent_followups WHERE key = $1", key))
