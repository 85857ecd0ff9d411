"""What the dashboard reads about tasks, and who may see which repositories.

A read model over tables other packages own (`tasks`, `workflow_executions`,
`validations`, `pull_requests`): nothing here changes a task; actions go
through the services the slash commands use. `dashboard_access` is its own:
the repositories a person could write to when they last signed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from app.dashboard.filters import PAGE_SIZE, TaskFilter, where
from app.validation.store import _COLUMNS as VALIDATION_COLUMNS
from app.validation.store import Validation


@dataclass(frozen=True)
class TaskRow:
    """One line of the task list."""

    id: int
    repository: str
    issue_number: int
    issue_url: str
    title: str
    status: str
    triggered_by: str
    attempt: int
    pull_requests: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


async def save_access(
    conn: asyncpg.Connection | asyncpg.Pool, login: str, repositories: Sequence[str]
) -> None:
    await conn.execute(
        """INSERT INTO dashboard_access (login, repositories) VALUES ($1, $2::text[])
           ON CONFLICT (login) DO UPDATE
           SET repositories = excluded.repositories, refreshed_at = now()""",
        login.lower(),
        sorted({r.lower() for r in repositories}),
    )


async def access_of(conn: asyncpg.Connection | asyncpg.Pool, login: str) -> list[str]:
    """The lower-case repositories `login` could write to at sign-in; none if unknown."""
    found = await conn.fetchval(
        "SELECT repositories FROM dashboard_access WHERE login = $1", login.lower()
    )
    return list(found or [])


async def list_tasks(
    conn: asyncpg.Connection | asyncpg.Pool,
    flt: TaskFilter,
    visible: Sequence[str] | None,
    page_size: int = PAGE_SIZE,
) -> list[TaskRow]:
    """Newest first, one more than a page (so the caller knows a next page exists)."""
    clause, params = where(flt, visible)
    params.append(page_size + 1)
    rows = await conn.fetch(
        f"""SELECT id, repository, issue_number, issue_url, title, status, triggered_by,
                   attempt, pull_requests::text AS pull_requests, created_at, updated_at
            FROM tasks {clause}
            ORDER BY id DESC LIMIT ${len(params)}""",  # noqa: S608 - clause holds only $n
        *params,
    )
    return [TaskRow(**{**dict(r), "pull_requests": orjson.loads(r["pull_requests"])}) for r in rows]


async def repositories(
    conn: asyncpg.Connection | asyncpg.Pool, visible: Sequence[str] | None
) -> list[str]:
    """The repositories the filter offers: those the bot knows and the viewer sees."""
    rows = await conn.fetch(
        """SELECT full_name FROM repositories
           WHERE removed_at IS NULL
             AND ($1::text[] IS NULL OR lower(full_name) = ANY($1::text[]))
           ORDER BY lower(full_name) LIMIT 500""",
        None if visible is None else list(visible),
    )
    return [r["full_name"] for r in rows]


async def workflow_steps(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int
) -> list[dict[str, Any]]:
    """The task-to-PR workflow's steps, each with its status and times."""
    raw = await conn.fetchval(
        """SELECT steps::text FROM workflow_executions
           WHERE task_id = $1 AND workflow_type = 'task_to_pr'""",
        task_id,
    )
    return orjson.loads(raw) if raw else []


async def validations_for_task(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, limit: int = 50
) -> list[Validation]:
    """Every validation of the task's pull requests, newest first."""
    rows = await conn.fetch(
        f"""SELECT {VALIDATION_COLUMNS} FROM validations
            WHERE pull_request_id IN (SELECT id FROM pull_requests WHERE task_id = $1)
            ORDER BY id DESC LIMIT $2""",  # noqa: S608 - a constant column list
        task_id,
        limit,
    )
    return [Validation.from_row(r) for r in rows]
