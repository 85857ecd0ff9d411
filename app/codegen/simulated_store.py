"""The `simulated_runs` table: the simulated Codegen's agent runs, in PostgreSQL so
that they outlive a process and every worker sees the same runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class SimulatedRun:
    id: int
    org_id: int
    prompt: str
    metadata: dict[str, Any]
    repo_id: int | None
    polls: int
    prompts: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SimulatedRun:
        data = dict(row)
        data["metadata"] = orjson.loads(data["metadata"])
        data["prompts"] = tuple(data["prompts"])
        return cls(**data)


_COLUMNS = """id, org_id, prompt, metadata::text AS metadata, repo_id, polls, prompts,
    created_at, updated_at"""


async def create(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    org_id: int,
    prompt: str,
    metadata: dict[str, Any],
    repo_id: int | None,
) -> SimulatedRun:
    row = await conn.fetchrow(
        f"""INSERT INTO simulated_runs (org_id, prompt, metadata, repo_id)
            VALUES ($1, $2, $3::jsonb, $4)
            RETURNING {_COLUMNS}""",  # noqa: S608 - column names are ours, values are bound
        org_id,
        prompt,
        orjson.dumps(metadata).decode(),
        repo_id,
    )
    return SimulatedRun.from_row(row)


async def count_poll(
    conn: asyncpg.Connection | asyncpg.Pool, org_id: int, run_id: int
) -> SimulatedRun | None:
    """One more poll of the run, counted in one statement (two workers polling at
    once count two); None when the organization has no such run."""
    row = await conn.fetchrow(
        f"""UPDATE simulated_runs SET polls = polls + 1, updated_at = now()
            WHERE id = $1 AND org_id = $2
            RETURNING {_COLUMNS}""",  # noqa: S608
        run_id,
        org_id,
    )
    return SimulatedRun.from_row(row) if row else None


async def resume(
    conn: asyncpg.Connection | asyncpg.Pool, org_id: int, run_id: int, prompt: str
) -> SimulatedRun | None:
    """Record a follow-up and start the run's lifecycle again."""
    row = await conn.fetchrow(
        f"""UPDATE simulated_runs
            SET polls = 0, prompts = array_append(prompts, $3), updated_at = now()
            WHERE id = $1 AND org_id = $2
            RETURNING {_COLUMNS}""",  # noqa: S608
        run_id,
        org_id,
        prompt,
    )
    return SimulatedRun.from_row(row) if row else None


async def newest_containing(
    conn: asyncpg.Connection | asyncpg.Pool, org_id: int, metadata: dict[str, Any], limit: int
) -> list[SimulatedRun]:
    """The organization's newest runs whose metadata contains `metadata` (JSON
    containment: the caller checks exact equality of each value)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM simulated_runs
            WHERE org_id = $1 AND metadata @> $2::jsonb
            ORDER BY id DESC LIMIT $3""",  # noqa: S608
        org_id,
        orjson.dumps(metadata).decode(),
        limit,
    )
    return [SimulatedRun.from_row(r) for r in rows]


async def made_for(
    conn: asyncpg.Connection | asyncpg.Pool, run_id: int, metadata: dict[str, Any]
) -> bool:
    """Whether run `run_id` is a simulated run made with this metadata (a task's
    attempt): how a task tells its simulated runs from real ones, whichever client
    the process has now."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM simulated_runs
                              WHERE id = $1 AND metadata @> $2::jsonb)""",
            run_id,
            orjson.dumps(metadata).decode(),
        )
    )
