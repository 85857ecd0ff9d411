"""The `codegen_requests` table: each prompt written and agent run made for a task."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from app.tasks.request_status import ENDED, RequestStatus, check_move


@dataclass(frozen=True)
class CodegenRequest:
    id: int
    task_id: int
    attempt: int
    strategy: str | None
    style: str
    prompt: str
    context: dict[str, Any]
    status: RequestStatus
    agent_run_id: int | None
    web_url: str | None
    pull_requests: tuple[dict[str, Any], ...]
    summary: str | None
    error: str | None
    polls: int
    created_at: datetime
    run_created_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> CodegenRequest:
        data = dict(row)
        data["context"] = orjson.loads(data["context"])
        data["pull_requests"] = tuple(orjson.loads(data["pull_requests"]))
        data["status"] = RequestStatus(data["status"])
        return cls(**data)


_COLUMNS = """id, task_id, attempt, strategy, style, prompt, context::text AS context, status,
    agent_run_id, web_url, pull_requests::text AS pull_requests, summary, error, polls,
    created_at, run_created_at, finished_at"""


async def prepare(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    task_id: int,
    attempt: int,
    strategy: str | None,
    style: str,
    prompt: str,
    context: dict[str, Any],
) -> CodegenRequest:
    """Store the prompt for an attempt, or return the one stored by an earlier try."""
    row = await conn.fetchrow(
        f"""INSERT INTO codegen_requests (task_id, attempt, strategy, style, prompt, context)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)
            ON CONFLICT (task_id, attempt) DO UPDATE SET task_id = EXCLUDED.task_id
            RETURNING {_COLUMNS}""",  # noqa: S608
        task_id,
        attempt,
        strategy,
        style,
        prompt,
        orjson.dumps(context).decode(),
    )
    return CodegenRequest.from_row(row)


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, attempt: int
) -> CodegenRequest | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM codegen_requests WHERE task_id = $1 AND attempt = $2",  # noqa: S608
        task_id,
        attempt,
    )
    return CodegenRequest.from_row(row) if row else None


async def for_task(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> list[CodegenRequest]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM codegen_requests WHERE task_id = $1 ORDER BY attempt",  # noqa: S608
        task_id,
    )
    return [CodegenRequest.from_row(r) for r in rows]


def _assignments(fields: dict[str, Any], params: list[Any]) -> list[str]:
    sets = []
    for name, value in fields.items():
        if name in ("pull_requests", "context"):
            value = orjson.dumps(value).decode()
        params.append(value)
        cast = "::jsonb" if name in ("pull_requests", "context") else ""
        sets.append(f"{name} = ${len(params)}{cast}")
    return sets


async def update(conn: asyncpg.Connection | asyncpg.Pool, request_id: int, **fields: Any) -> None:
    """Change other columns (polls, the run's link); the status changes only by `move`."""
    if "status" in fields:
        raise ValueError("an attempt's status changes only by `move`")
    params: list[Any] = [request_id]
    sets = _assignments(fields, params)
    await conn.execute(
        f"UPDATE codegen_requests SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        *params,
    )


async def move(
    conn: asyncpg.Connection | asyncpg.Pool,
    request_id: int,
    from_status: Iterable[RequestStatus],
    to_status: RequestStatus,
    **fields: Any,
) -> bool:
    """The one change of an attempt's status (with other columns), and only from
    the ones given: False when something else (a cancel) changed it first, which
    must stand. A move the transition table does not list raises
    `IllegalRequestMove` before anything is written."""
    from_status = tuple(from_status)
    check_move(from_status, to_status)
    params: list[Any] = [request_id, [RequestStatus(s).value for s in from_status]]
    params.append(RequestStatus(to_status).value)
    sets = [f"status = ${len(params)}", *_assignments(fields, params)]
    if to_status in ENDED:
        sets.append("finished_at = coalesce(finished_at, now())")
    result = await conn.execute(
        f"""UPDATE codegen_requests SET {", ".join(sets)}
            WHERE id = $1 AND status = ANY($2::text[])""",  # noqa: S608
        *params,
    )
    return result.endswith(" 1")
