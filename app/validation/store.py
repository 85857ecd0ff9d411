"""The `validations` table: one row per validation of a PR's head commit
(a re-run of the same commit is a new generation). A status changes only
through `transition` (and `supersede_open`, which goes the same way), which
enforces the table of app/validation/status.py."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from app.validation.status import OPEN, ValidationStatus, check_transition

_JSON = ("analysis", "findings", "ci")


@dataclass(frozen=True)
class Validation:
    id: int
    pull_request_id: int
    head_sha: str
    generation: int
    trigger: str
    status: ValidationStatus
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
        data["status"] = ValidationStatus(data["status"])
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
    return await _move(
        conn,
        "pull_request_id = $1 AND id <> $2",
        [pull_request_id, except_id],
        OPEN,
        ValidationStatus.SUPERSEDED,
        {},
    )


async def transition(
    conn: asyncpg.Connection | asyncpg.Pool,
    validation_id: int,
    *,
    from_status: Collection[ValidationStatus],
    to_status: ValidationStatus,
    **fields: Any,
) -> bool:
    """Move the validation to `to_status` (with `fields`) if its status is one of
    `from_status`; whether it moved. Raises `IllegalTransition` before writing
    anything when the table does not list a move from one of them."""
    return bool(await _move(conn, "id = $1", [validation_id], from_status, to_status, fields))


async def _move(
    conn: asyncpg.Connection | asyncpg.Pool,
    where: str,
    args: list[Any],
    from_status: Collection[ValidationStatus],
    to_status: ValidationStatus,
    fields: dict[str, Any],
) -> list[int]:
    """The one place a status is written: checked against the table first."""
    check_transition(from_status, to_status)
    sets, values = _assignments(fields, len(args) + 2)
    sets.insert(0, f"status = ${len(args) + 2}")
    rows = await conn.fetch(
        f"""UPDATE validations SET {", ".join(sets)}
            WHERE {where} AND status = ANY(${len(args) + 1}::text[])
            RETURNING id""",  # noqa: S608
        *args,
        [str(s) for s in from_status],
        str(to_status),
        *values,
    )
    return [r["id"] for r in rows]


def _assignments(fields: dict[str, Any], after: int) -> tuple[list[str], list[Any]]:
    """`name = $n` for each field, numbered after the `after` parameters before them."""
    sets, values = [], []
    for name, value in fields.items():
        if name == "status":
            raise ValueError("a validation's status changes only through transition()")
        if name in _JSON:
            value = orjson.dumps(value).decode()
        values.append(value)
        sets.append(f"{name} = ${after + len(values)}{'::jsonb' if name in _JSON else ''}")
    return sets, values


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
    """Set columns other than the status (see `transition`)."""
    sets, values = _assignments(fields, 1)
    await conn.execute(
        f"UPDATE validations SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        validation_id,
        *values,
    )


async def for_check_run(
    conn: asyncpg.Connection | asyncpg.Pool, check_run_id: int
) -> Validation | None:
    """The validation that created this check run (its buttons were clicked)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM validations WHERE check_run_id = $1",  # noqa: S608
        check_run_id,
    )
    return Validation.from_row(row) if row else None


async def latest_for_task(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int
) -> Validation | None:
    """The newest validation of any PR the task opened (for its tracking comment)."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM validations
            WHERE pull_request_id IN (SELECT id FROM pull_requests WHERE task_id = $1)
              AND status <> $2
            ORDER BY id DESC LIMIT 1""",  # noqa: S608
        task_id,
        str(ValidationStatus.SUPERSEDED),
    )
    return Validation.from_row(row) if row else None
