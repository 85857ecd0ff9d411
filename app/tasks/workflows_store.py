"""The `workflow_executions` table: each run of the task-to-PR workflow and its steps."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from app.tasks.workflow_status import StepStatus, WorkflowStatus, check_move

STEPS = ("validate_task", "generate_prompt", "create_pr", "validate_pr", "notify_completion")


async def start(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> None:
    steps = [{"name": name, "status": StepStatus.PENDING.value} for name in STEPS]
    await conn.execute(
        """INSERT INTO workflow_executions (task_id, steps) VALUES ($1, $2::jsonb)
           ON CONFLICT (task_id, workflow_type) DO NOTHING""",
        task_id,
        orjson.dumps(steps).decode(),
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> dict[str, Any] | None:
    """The task's workflow record with its steps (for the REST API's status)."""
    row = await conn.fetchrow(
        """SELECT status, started_at, finished_at, error, steps::text AS steps
           FROM workflow_executions WHERE task_id = $1 AND workflow_type = 'task_to_pr'""",
        task_id,
    )
    if row is None:
        return None
    return {**dict(row), "steps": orjson.loads(row["steps"])}


async def step(
    conn: asyncpg.Connection | asyncpg.Pool,
    task_id: int,
    name: str,
    status: StepStatus,
    detail: str | None = None,
) -> None:
    """Mark a step running, completed or failed, timing it."""
    stamp = "started_at" if status == StepStatus.RUNNING else "finished_at"
    patch: dict[str, Any] = {"status": StepStatus(status).value}
    if detail is not None:
        patch["detail"] = detail
    await conn.execute(
        """UPDATE workflow_executions SET steps = (
               SELECT jsonb_agg(CASE WHEN s->>'name' = $2
                                     THEN s || $3::jsonb || jsonb_build_object($4::text, now())
                                     ELSE s END ORDER BY ord)
               FROM jsonb_array_elements(steps) WITH ORDINALITY AS e(s, ord))
           WHERE task_id = $1 AND workflow_type = 'task_to_pr'""",
        task_id,
        name,
        orjson.dumps(patch).decode(),
        stamp,
    )


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool,
    task_id: int,
    status: WorkflowStatus,
    error: str | None = None,
) -> None:
    """End the record, once: a later ending leaves the first one standing. An
    ending the transition table does not list raises `IllegalWorkflowMove`."""
    check_move((WorkflowStatus.RUNNING,), status)
    await conn.execute(
        """UPDATE workflow_executions SET status = $2, error = $3, finished_at = now()
           WHERE task_id = $1 AND workflow_type = 'task_to_pr' AND finished_at IS NULL""",
        task_id,
        WorkflowStatus(status).value,
        error,
    )
