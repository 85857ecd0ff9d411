"""The `budget_admissions` table: every query on it, in one place. A row is one
task attempt's request for an agent run: `waiting` in the queue, `admitted`
(in flight until its run ends), then `done` (a run was made: it counts for
its day) or `void` (no run was made), or `withdrawn` from the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.budgets.decide import Limit, Limits, Usage
from app.tasks.status import TaskStatus

WAITING = "waiting"
ADMITTED = "admitted"
DONE = "done"
VOID = "void"
WITHDRAWN = "withdrawn"

_GENERATING = TaskStatus.GENERATING_PROMPT.value
_RUNNING = TaskStatus.RUNNING.value


@dataclass(frozen=True)
class Admission:
    id: int
    task_id: int
    attempt: int
    installation_id: int
    state: str
    repository: str  # the task's, lower-cased
    limits: Limits  # the repository's, as read when it asked
    timeout_ms: int
    blocked_by: Limit | None
    queued_at: datetime
    admitted_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Admission:
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            attempt=row["attempt"],
            installation_id=row["installation_id"],
            state=row["state"],
            repository=row["repository"],
            limits=Limits(row["repo_runs_per_day"], row["repo_concurrent"]),
            timeout_ms=row["timeout_ms"],
            blocked_by=Limit(row["blocked_by"]) if row["blocked_by"] else None,
            queued_at=row["queued_at"],
            admitted_at=row["admitted_at"],
        )


_COLUMNS = """a.id, a.task_id, a.attempt, a.installation_id, a.state,
    lower(t.repository) AS repository, a.repo_runs_per_day, a.repo_concurrent, a.timeout_ms,
    a.blocked_by, a.queued_at, a.admitted_at"""


async def ask(
    conn: asyncpg.Connection,
    *,
    task_id: int,
    attempt: int,
    installation_id: int,
    limits: Limits,
    timeout_ms: int,
    now: datetime,
) -> tuple[Admission, bool]:
    """The attempt's request, added to the end of the queue unless it is there
    already (a retried job); one withdrawn or void before (a retry after a
    cancel) joins the end again. (request, whether it was already waiting)."""
    before = await conn.fetchval(
        "SELECT state FROM budget_admissions WHERE task_id = $1 AND attempt = $2",
        task_id,
        attempt,
    )
    await conn.execute(
        """INSERT INTO budget_admissions AS a
               (task_id, attempt, installation_id, repo_runs_per_day, repo_concurrent,
                timeout_ms, queued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (task_id, attempt) DO UPDATE
               SET state = 'waiting', installation_id = $3, repo_runs_per_day = $4,
                   repo_concurrent = $5, timeout_ms = $6, queued_at = $7,
                   blocked_by = NULL, admitted_at = NULL, ended_at = NULL
               WHERE a.state IN ('void', 'withdrawn')""",
        task_id,
        attempt,
        installation_id,
        limits.runs_per_day,
        limits.concurrent,
        timeout_ms,
        now,
    )
    row = await get(conn, task_id, attempt)
    assert row is not None
    return row, before == WAITING


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, attempt: int
) -> Admission | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM budget_admissions a JOIN tasks t ON t.id = a.task_id
            WHERE a.task_id = $1 AND a.attempt = $2""",  # noqa: S608
        task_id,
        attempt,
    )
    return Admission.from_row(row) if row else None


async def reconcile(conn: asyncpg.Connection, installation_id: int, now: datetime) -> int:
    """End the requests whose task no longer wants their run: a waiting one is
    withdrawn; an admitted one is done if its run was made (it counts for its
    day), void if not. A request stays open while its task is writing the
    prompt for its attempt, or (admitted) while the attempt's run works. Every
    ending path of a task is covered so, whichever code moved it. How many."""
    result = await conn.execute(
        """UPDATE budget_admissions a
           SET state = CASE
                   WHEN a.state = 'waiting' THEN 'withdrawn'
                   WHEN EXISTS (SELECT 1 FROM codegen_requests r
                                WHERE r.task_id = a.task_id AND r.attempt = a.attempt
                                  AND r.agent_run_id IS NOT NULL) THEN 'done'
                   ELSE 'void' END,
               ended_at = $2
           FROM tasks t
           WHERE t.id = a.task_id AND a.installation_id = $1
             AND a.state IN ('waiting', 'admitted')
             AND NOT ((t.status = $3 AND t.attempt = a.attempt - 1)
                      OR (a.state = 'admitted' AND t.status = $4 AND t.attempt = a.attempt))""",
        installation_id,
        now,
        _GENERATING,
        _RUNNING,
    )
    return int(result.split()[-1])


async def usage(
    conn: asyncpg.Connection | asyncpg.Pool, installation_id: int, day_start: datetime
) -> tuple[Usage, dict[str, Usage]]:
    """(the installation's, each repository's) runs admitted in the UTC day that
    starts at `day_start`, and runs in flight."""
    rows = await conn.fetch(
        """SELECT lower(t.repository) AS repository,
                  count(*) FILTER (WHERE a.admitted_at >= $2 AND a.admitted_at < $3)
                      AS runs_today,
                  count(*) FILTER (WHERE a.state = 'admitted') AS in_flight
           FROM budget_admissions a JOIN tasks t ON t.id = a.task_id
           WHERE a.installation_id = $1
             AND (a.state = 'admitted'
                  OR (a.state = 'done' AND a.admitted_at >= $2 AND a.admitted_at < $3))
           GROUP BY 1""",
        installation_id,
        day_start,
        day_start + timedelta(days=1),
    )
    per_repo = {r["repository"]: Usage(r["runs_today"], r["in_flight"]) for r in rows}
    total = Usage(
        sum(u.runs_today for u in per_repo.values()), sum(u.in_flight for u in per_repo.values())
    )
    return total, per_repo


async def waiting(conn: asyncpg.Connection, installation_id: int) -> list[Admission]:
    """The installation's queue, in the order the requests joined it."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM budget_admissions a JOIN tasks t ON t.id = a.task_id
            WHERE a.installation_id = $1 AND a.state = 'waiting'
            ORDER BY a.queued_at, a.id""",  # noqa: S608
        installation_id,
    )
    return [Admission.from_row(r) for r in rows]


async def admit(conn: asyncpg.Connection, admission_id: int, now: datetime) -> bool:
    result = await conn.execute(
        """UPDATE budget_admissions SET state = 'admitted', admitted_at = $2, blocked_by = NULL
           WHERE id = $1 AND state = 'waiting'""",
        admission_id,
        now,
    )
    return result.endswith(" 1")


async def hold(conn: asyncpg.Connection, admission_id: int, limit: Limit) -> None:
    await conn.execute(
        "UPDATE budget_admissions SET blocked_by = $2 WHERE id = $1 AND state = 'waiting'",
        admission_id,
        limit.value,
    )


async def withdraw(conn: asyncpg.Connection, task_id: int, now: datetime) -> int:
    """Take the task out of the queue (a cancel); how many requests were waiting."""
    result = await conn.execute(
        """UPDATE budget_admissions SET state = 'withdrawn', ended_at = $2
           WHERE task_id = $1 AND state = 'waiting'""",
        task_id,
        now,
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class Place:
    """A waiting request and how many wait before it."""

    admission: Admission
    ahead_in_repository: int
    ahead_in_installation: int


async def place(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> Place | None:
    """The task's waiting request, if it waits, with its place in the queue."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS},
                   (SELECT count(*) FROM budget_admissions b
                    WHERE b.installation_id = a.installation_id AND b.state = 'waiting'
                      AND (b.queued_at, b.id) < (a.queued_at, a.id)) AS ahead_installation,
                   (SELECT count(*) FROM budget_admissions b JOIN tasks u ON u.id = b.task_id
                    WHERE b.installation_id = a.installation_id AND b.state = 'waiting'
                      AND lower(u.repository) = lower(t.repository)
                      AND (b.queued_at, b.id) < (a.queued_at, a.id)) AS ahead_repository
            FROM budget_admissions a JOIN tasks t ON t.id = a.task_id
            WHERE a.task_id = $1 AND a.state = 'waiting'
            ORDER BY a.id DESC LIMIT 1""",  # noqa: S608
        task_id,
    )
    if row is None:
        return None
    return Place(Admission.from_row(row), row["ahead_repository"], row["ahead_installation"])


async def installations_waiting(conn: asyncpg.Connection | asyncpg.Pool) -> list[int]:
    """Installations with a request in the queue (the periodic admission's round)."""
    rows = await conn.fetch(
        """SELECT DISTINCT installation_id FROM budget_admissions
           WHERE state = 'waiting' ORDER BY 1"""
    )
    return [r["installation_id"] for r in rows]
