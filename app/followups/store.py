"""The `agent_followups` table: instructions sent to a task's agent run after
it finished (a `/codegen fix`, the "Fix with Codegen" button, a CI failure),
each keyed by what asked for it so it is sent once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.followups.status import FINAL, IN_FLIGHT, FollowupStatus, check_move, values


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
    status: FollowupStatus
    error: str | None
    polls: int
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Followup:
        data = dict(row)
        data["status"] = FollowupStatus(data["status"])
        return cls(**data)


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
            WHERE task_id = $1 AND status = ANY($2::text[])
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        task_id,
        values(IN_FLIGHT),
    )
    return Followup.from_row(row) if row else None


async def update(conn: asyncpg.Connection | asyncpg.Pool, followup_id: int, **fields: Any) -> None:
    """Change other columns (the poll count); the status changes only by `move`."""
    if "status" in fields:
        raise ValueError("a follow-up's status changes only by `move`")
    sets, params = [], [followup_id]
    for name, value in fields.items():
        params.append(value)
        sets.append(f"{name} = ${len(params)}")
    await conn.execute(
        f"UPDATE agent_followups SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        *params,
    )


async def stop_for_task(conn: asyncpg.Connection | asyncpg.Pool, task_id: int, reason: str) -> int:
    """End the task's unfinished follow-ups: their jobs see it and stop. How many."""
    check_move(IN_FLIGHT, FollowupStatus.FAILED)
    result = await conn.execute(
        """UPDATE agent_followups SET status = $3, error = $2,
                  finished_at = coalesce(finished_at, now())
           WHERE task_id = $1 AND status = ANY($4::text[])""",
        task_id,
        reason,
        FollowupStatus.FAILED.value,
        values(IN_FLIGHT),
    )
    return int(result.split()[-1])


async def move(
    conn: asyncpg.Connection | asyncpg.Pool,
    followup_id: int,
    from_status: Iterable[FollowupStatus],
    to_status: FollowupStatus,
    error: str | None = None,
) -> bool:
    """The one change of a follow-up's status, and only from the ones given: False
    when something else (a cancel, the PR's end) stopped the follow-up first,
    which must stand. A move the transition table does not list raises
    `IllegalFollowupMove` before anything is written."""
    from_status = tuple(from_status)
    check_move(from_status, to_status)
    result = await conn.execute(
        """UPDATE agent_followups SET status = $3, error = coalesce($4, error),
                  sent_at = CASE WHEN $5 THEN coalesce(sent_at, now()) ELSE sent_at END,
                  finished_at = CASE WHEN $6 THEN coalesce(finished_at, now()) ELSE finished_at END
           WHERE id = $1 AND status = ANY($2::text[])""",
        followup_id,
        [FollowupStatus(s).value for s in from_status],
        FollowupStatus(to_status).value,
        error,
        to_status == FollowupStatus.RUNNING,
        to_status in FINAL,
    )
    return result.endswith(" 1")


def lock_key(task_id: int) -> str:
    """One writer of a task's follow-ups at a time: two requests at once must not
    both find the agent free and both resume it, and a cancel must not pass a send."""
    return f"followups:task:{task_id}"


async def exists(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> bool:
    """A follow-up was recorded for this key (what asked for it), whatever became of it."""
    return bool(await conn.fetchval("SELECT 1 FROM agent_followups WHERE key = $1", key))


# Follow-ups that fix what a review found: `/codegen fix` and "Fix with Codegen".
REVIEW_FIX_KINDS = ("fix", "findings")


async def review_fixes_used(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> int:
    """The task's review fixes that count against `review_fix.max`: every one
    recorded, except those that failed before reaching the agent."""
    return await conn.fetchval(
        """SELECT count(*) FROM agent_followups
           WHERE task_id = $1 AND kind = ANY($2::text[])
             AND NOT (status = $3 AND sent_at IS NULL)""",
        task_id,
        list(REVIEW_FIX_KINDS),
        FollowupStatus.FAILED.value,
    )
