"""The `tasks` table: every query on it, in one place."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from app.tasks.status import ACTIVE, ATTEMPTS_OVER, TaskStatus, check_transition, sql_list
from app.tasks.status import PR_STAGES as PR_STAGES
from app.tasks.status import WORKING as WORKING

MAX_INSTRUCTIONS = 5  # a task's instructions from mentions, the newest kept

# The partial unique index's predicate: one active task per issue.
_ACTIVE_SQL = sql_list(ACTIVE)


@dataclass(frozen=True)
class Task:
    id: int
    installation_id: int
    repository: str
    issue_number: int
    issue_url: str
    issue_author: str
    title: str
    description: str
    requirements: tuple[str, ...]
    acceptance_criteria: tuple[str, ...]
    priority: str
    estimated_complexity: str
    status: TaskStatus
    status_detail: str | None
    triggered_by: str
    trigger_delivery_id: str | None
    tracking_comment_id: int | None
    attempt: int
    max_retries: int
    simulated: bool
    pull_requests: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    deadline_at: datetime | None
    next_strategy: str | None
    auto_merge: bool | None
    pr_opened_at: datetime | None
    merged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    repository_id: int | None = None  # GitHub's id: the name changes on a rename
    # Added by whoever started the task with a mention: ({"by", "text"}, ...)
    instructions: tuple[dict[str, str], ...] = ()
    # Where the PR goes, as the issue chose it when its text was read (issue_spec.issue_choices)
    pr_fields: dict[str, str] | None = None
    # The repository as the label's delivery described it (None: not known).
    default_branch: str | None = None
    repository_description: str | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Task:
        data = dict(row)
        data["requirements"] = tuple(data["requirements"])
        data["acceptance_criteria"] = tuple(data["acceptance_criteria"])
        data["pull_requests"] = tuple(orjson.loads(data["pull_requests"]))
        data["notes"] = tuple(data["notes"])
        data["instructions"] = tuple(orjson.loads(data["instructions"]))
        data["pr_fields"] = orjson.loads(data["pr_fields"]) if data["pr_fields"] else None
        data["status"] = TaskStatus(data["status"])
        return cls(**data)


_COLUMNS = """id, installation_id, repository, issue_number, issue_url, issue_author, title,
    description, requirements, acceptance_criteria, priority, estimated_complexity, status,
    status_detail, triggered_by, trigger_delivery_id, tracking_comment_id, attempt, max_retries,
    simulated, pull_requests::text AS pull_requests, notes, deadline_at, next_strategy, auto_merge,
    pr_opened_at, merged_at, created_at, updated_at, finished_at, repository_id,
    instructions::text AS instructions, pr_fields::text AS pr_fields, default_branch,
    repository_description"""


async def create(conn: asyncpg.Connection, **fields: Any) -> Task | None:
    """Insert an active task; None when the issue already has one."""
    names = list(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"""INSERT INTO tasks ({", ".join(names)}) VALUES ({placeholders})
            ON CONFLICT (lower(repository), issue_number)
                WHERE status IN ({_ACTIVE_SQL})
            DO NOTHING
            RETURNING {_COLUMNS}""",  # noqa: S608 - column names are ours, values are bound
        *fields.values(),
    )
    return Task.from_row(row) if row else None


async def get(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> Task | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tasks WHERE id = $1", task_id)  # noqa: S608
    return Task.from_row(row) if row else None


async def active_for_issue(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, issue_number: int
) -> Task | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM tasks
            WHERE lower(repository) = lower($1) AND issue_number = $2
              AND status IN ({_ACTIVE_SQL})""",  # noqa: S608
        repository,
        issue_number,
    )
    return Task.from_row(row) if row else None


async def latest_for_issue(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, issue_number: int
) -> Task | None:
    """The issue's newest task, whatever its status (for commands after the end)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM tasks
            WHERE lower(repository) = lower($1) AND issue_number = $2
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        repository,
        issue_number,
    )
    return Task.from_row(row) if row else None


async def page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    status: str | None,
    repository: str | None,
    created_since: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Task]:
    """Tasks newest first, filtered, from below `before_id` (the REST API's cursor)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM tasks
            WHERE ($1::text IS NULL OR status = $1)
              AND ($2::text IS NULL OR lower(repository) = lower($2))
              AND ($3::timestamptz IS NULL OR created_at >= $3)
              AND ($4::bigint IS NULL OR id < $4)
            ORDER BY id DESC LIMIT $5""",  # noqa: S608
        status,
        repository,
        created_since,
        before_id,
        limit,
    )
    return [Task.from_row(r) for r in rows]


async def started_by(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, issue_number: int, delivery_id: str
) -> Task | None:
    """The issue's task this delivery started, if any: a delivery handled again
    (its job died after the task was made) must not start another."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM tasks
            WHERE lower(repository) = lower($1) AND issue_number = $2
              AND trigger_delivery_id = $3
            LIMIT 1""",  # noqa: S608
        repository,
        issue_number,
        delivery_id,
    )
    return Task.from_row(row) if row else None


async def for_pull_request(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, number: int, head_ref: str | None
) -> Task | None:
    """The newest task whose agent run reported this PR (by URL or head branch)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM tasks
            WHERE lower(repository) = lower($1) AND EXISTS (
                SELECT 1 FROM jsonb_array_elements(tasks.pull_requests) AS pr
                WHERE pr->>'url' ~ ('/pulls?/' || $2::text || '([/?#]|$)')
                   OR ($3::text IS NOT NULL AND pr->>'head_branch' = $3))
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        repository,
        str(number),
        head_ref,
    )
    return Task.from_row(row) if row else None


async def transition(
    conn: asyncpg.Connection | asyncpg.Pool,
    task_id: int,
    *,
    from_status: Collection[TaskStatus],
    to_status: TaskStatus,
    detail: str | None = None,
    **fields: Any,
) -> Task | None:
    """Move a task on only from the statuses given; None when it had moved already
    (another job, a cancel), so the caller does nothing twice. The one place a
    task's status changes: a move `TRANSITIONS` does not list, from any of the
    statuses given, raises `IllegalTransition` before anything is written."""
    check_transition(from_status, to_status)
    sets = ["status = $3", "status_detail = $4", "updated_at = now()"]
    values: list[Any] = [task_id, list(from_status), to_status, detail]
    for name, value in fields.items():
        values.append(orjson.dumps(value).decode() if name == "pull_requests" else value)
        cast = "::jsonb" if name == "pull_requests" else ""
        sets.append(f"{name} = ${len(values)}{cast}")
    if to_status in ATTEMPTS_OVER:
        sets.append("finished_at = coalesce(finished_at, now())")
    else:  # back at work (a retry): no longer finished
        sets.append("finished_at = NULL")
    row = await conn.fetchrow(
        f"""UPDATE tasks SET {", ".join(sets)}
            WHERE id = $1 AND status = ANY($2::text[])
            RETURNING {_COLUMNS}""",  # noqa: S608
        *values,
    )
    return Task.from_row(row) if row else None


async def set_comment_id(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, comment_id: int
) -> None:
    await conn.execute(
        "UPDATE tasks SET tracking_comment_id = $2, updated_at = now() WHERE id = $1",
        task_id,
        comment_id,
    )


async def start_comment_post(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> bool:
    """Record that the task's tracking comment is about to be posted; whether a
    post had been started before (it may be on GitHub already, id unknown)."""
    before = await conn.fetchval(
        """UPDATE tasks t SET tracking_post_started = true
           FROM (SELECT id, tracking_post_started FROM tasks WHERE id = $1 FOR UPDATE) old
           WHERE t.id = old.id
           RETURNING old.tracking_post_started""",
        task_id,
    )
    return bool(before)


async def try_advisory_lock(conn: asyncpg.Connection, key: str) -> bool:
    """Take the session lock named `key` (app.db.advisory_lock's) if it is free."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key))


async def advisory_unlock(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


async def add_note(conn: asyncpg.Connection | asyncpg.Pool, task_id: int, note: str) -> None:
    await conn.execute(
        """UPDATE tasks SET notes = array_append(notes, $2), updated_at = now()
           WHERE id = $1 AND NOT ($2 = ANY(notes))""",
        task_id,
        note,
    )


async def refresh_from_issue(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, spec: dict[str, Any]
) -> None:
    """Replace the task's text with a re-read of the edited issue."""
    await conn.execute(
        """UPDATE tasks SET title = $2, description = $3, requirements = $4,
                  acceptance_criteria = $5, priority = $6, estimated_complexity = $7,
                  pr_fields = $8::jsonb, updated_at = now()
           WHERE id = $1""",
        task_id,
        spec["title"],
        spec["description"],
        spec["requirements"],
        spec["acceptance_criteria"],
        spec["priority"],
        spec["estimated_complexity"],
        orjson.dumps(spec.get("pr_fields") or {}).decode(),
    )


async def add_instructions(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, by: str, text: str
) -> None:
    """Add what a person said when asking for the task again (a mention on an
    issue waiting for information); the newest `MAX_INSTRUCTIONS` are kept."""
    await conn.execute(
        """UPDATE tasks
              SET instructions = (
                    SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
                      FROM jsonb_array_elements(
                             instructions || jsonb_build_array(
                               jsonb_build_object('by', $2::text, 'text', $3::text)))
                           WITH ORDINALITY AS x(e, n)
                     WHERE n > jsonb_array_length(instructions) + 1 - $4),
                  updated_at = now()
            WHERE id = $1""",
        task_id,
        by,
        text,
        MAX_INSTRUCTIONS,
    )


async def follow_rename(
    conn: asyncpg.Connection,
    repository_id: int,
    full_name: str,
    old_names: list[str],
    installation_id: int | None,
) -> list[int]:
    """Give the repository's tasks its current name (and installation, after a
    transfer): those recorded with its id, and those recorded before ids were
    kept under one of its old names. Tasks of another repository that held the
    name before (deleted since) are told apart with its id, so no lookup by
    name finds them again. Returns the ids of the tasks renamed."""
    await conn.execute(
        """UPDATE tasks SET repository = repository || ' (repository ' || repository_id || ')',
                  updated_at = now()
           WHERE lower(repository) = lower($2) AND repository_id <> $1""",
        repository_id,
        full_name,
    )
    rows = await conn.fetch(
        """UPDATE tasks SET repository = $2, repository_id = $1,
                  issue_url = replace(issue_url, '/' || repository || '/', '/' || $2 || '/'),
                  installation_id = coalesce($4, installation_id), updated_at = now()
           WHERE (repository_id = $1
                  OR (repository_id IS NULL AND lower(repository) = ANY($3::text[])))
             AND (repository <> $2 OR installation_id <> coalesce($4, installation_id)
                  OR repository_id IS NULL)
           RETURNING id""",
        repository_id,
        full_name,
        [name.lower() for name in old_names],
        installation_id,
    )
    return [r["id"] for r in rows]


async def set_deadline(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, deadline: datetime, *, status: TaskStatus
) -> bool:
    """Move the task's deadline while it is still in `status` (a task admitted
    from the budget queue: its workflow timeout counts from the admission)."""
    result = await conn.execute(
        """UPDATE tasks SET deadline_at = $2, updated_at = now()
           WHERE id = $1 AND status = $3""",
        task_id,
        deadline,
        status.value,
    )
    return result.endswith(" 1")
