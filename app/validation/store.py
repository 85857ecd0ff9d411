"""The `validations` table: one row per validation of a PR's head commit
(a re-run of the same commit is a new generation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

OPEN = ("queued", "in_progress", "waiting_ci")  # not yet concluded
_JSON = ("analysis", "findings", "ci")


@dataclass(frozen=True)
class Validation:
    id: int
    pull_request_id: int
    head_sha: str
    generation: int
    trigger: str
    status: str
    check_run_id: int | None
    check_run_url: str | None
    conclusion: str | None
    title: str | None
    summary: str | None
    analysis: dict[str, Any] | None
    findings: list[dict[str, Any]] | None
    ci: dict[str, Any] | None
    annotations_sent: int
    review_id: int | None
    ci_deadline_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Validation:
        data = dict(row)
        for name in _JSON:
            data[name] = orjson.loads(data[name]) if data[name] is not None else None
        return cls(**data)


_COLUMNS = """id, pull_request_id, head_sha, generation, trigger, status, check_run_id,
    check_run_url, conclusion, title, summary, analysis::text AS analysis,
    findings::text AS findings, ci::text AS ci, annotations_sent, review_id, ci_deadline_at,
    created_at, started_at, completed_at"""


async def create(
    conn: asyncpg.Connection,
    pull_request_id: int,
    head_sha: str,
    trigger: str,
    *,
    again: bool,
) -> Validation | None:
    """A validation of this commit. Without `again`, None when the commit already
    has one (a redelivered or duplicate event); with it, the next generation."""
    if not again:
        row = await conn.fetchrow(
            f"""INSERT INTO validations (pull_request_id, head_sha, trigger)
                VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                RETURNING {_COLUMNS}""",  # noqa: S608
            pull_request_id,
            head_sha,
            trigger,
        )
    else:
        row = await conn.fetchrow(
            f"""INSERT INTO validations (pull_request_id, head_sha, trigger, generation)
                SELECT $1, $2, $3, coalesce(max(generation), 0) + 1
                FROM validations WHERE pull_request_id = $1 AND head_sha = $2
                RETURNING {_COLUMNS}""",  # noqa: S608
            pull_request_id,
            head_sha,
            trigger,
        )
    return Validation.from_row(row) if row else None


async def supersede_open(
    conn: asyncpg.Connection, pull_request_id: int, except_id: int
) -> list[int]:
    """Mark the PR's other unfinished validations superseded; their ids."""
    rows = await conn.fetch(
        """UPDATE validations SET status = 'superseded'
           WHERE pull_request_id = $1 AND id <> $2 AND status = ANY($3::text[])
           RETURNING id""",
        pull_request_id,
        except_id,
        list(OPEN),
    )
    return [r["id"] for r in rows]


async def get(conn: asyncpg.Connection | asyncpg.Pool, validation_id: int) -> Validation | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM validations WHERE id = $1",  # noqa: S608
        validation_id,
    )
    return Validation.from_row(row) if row else None


async def latest(
    conn: asyncpg.Connection | asyncpg.Pool, pull_request_id: int, head_sha: str | None = None
) -> Validation | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM validations
            WHERE pull_request_id = $1 AND ($2::text IS NULL OR head_sha = $2)
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        pull_request_id,
        head_sha,
    )
    return Validation.from_row(row) if row else None


async def update(
    conn: asyncpg.Connection | asyncpg.Pool, validation_id: int, **fields: Any
) -> None:
    sets, values = [], [validation_id]
    for name, value in fields.items():
        if name in _JSON:
            value = orjson.dumps(value).decode()
        values.append(value)
        sets.append(f"{name} = ${len(values)}{'::jsonb' if name in _JSON else ''}")
    await conn.execute(
        f"UPDATE validations SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        *values,
    )


async def latest_for_task(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int
) -> Validation | None:
    """The newest validation of any PR the task opened (for its tracking comment)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM validations
            WHERE pull_request_id IN (SELECT id FROM pull_requests WHERE task_id = $1)
              AND status <> 'superseded'
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        task_id,
    )
    return Validation.from_row(row) if row else None
