"""Admission: whether a task's attempt may create its agent run now, decided in
one transaction serialised per installation (`pg_advisory_xact_lock`), so any
number of workers in any number of processes admit no more runs than the
budgets allow. The transaction records the request, ends those whose task
moved on, counts the runs started today (UTC) and in flight for the repository
and the installation, and admits the queue's requests in order while they fit
(`app.budgets.decide.plan`). A request that does not fit waits in the queue
and is admitted later by the same function, when a run ends or the day rolls
over: its task's workflow timeout counts again from then, and its
`task.advance` job is enqueued in the transaction that admits it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from app.budgets import decide
from app.budgets import store as admissions
from app.budgets.decide import Limit, Limits
from app.config import Settings
from app.db import advisory_xact_lock
from app.queue import store as jobs
from app.tasks import schedule
from app.tasks import store as tasks
from app.tasks.status import TaskStatus

ADMIT_JOB = "budget.admit"  # app.budgets.jobs: admit what fits after a run ended
CHECK_JOB = "budget.check"  # app.budgets.jobs: the periodic admission (day rollover)


def lock_key(installation_id: int) -> str:
    """Held by every admission of the installation until its transaction ends."""
    return f"budget:installation:{installation_id}"


def installation_limits(settings: Settings) -> Limits:
    """The installation's limits: the environment's (a repository cannot raise them)."""
    return Limits(settings.budget_runs_per_day, settings.budget_concurrent_runs)


@dataclass(frozen=True)
class Verdict:
    """The attempt may create its run now, or waits for `limit`."""

    admitted: bool
    limit: Limit | None = None  # what holds it; None and not admitted: the task moved on


async def request(
    pool: asyncpg.Pool,
    *,
    task_id: int,
    attempt: int,
    installation_id: int,
    repository: Limits,
    installation: Limits,
    timeout_ms: int,
    now: datetime,
) -> Verdict:
    """Ask for the attempt's run (again, after a crash: the answer stands). The
    caller holds the task's spend lock and has checked the task still wants
    the run; `repository` and `timeout_ms` are the repository's settings."""
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, lock_key(installation_id))
        mine, was_waiting = await admissions.ask(
            conn,
            task_id=task_id,
            attempt=attempt,
            installation_id=installation_id,
            limits=repository,
            timeout_ms=timeout_ms,
            now=now,
        )
        if mine.state in (admissions.ADMITTED, admissions.DONE):
            return Verdict(True)
        decided = await _admit_in_order(conn, installation_id, installation, now, asking=mine.id)
        if mine.id not in decided:
            return Verdict(False)
        limit = decided[mine.id]
        if limit is not None:
            return Verdict(False, limit)
        if was_waiting:  # its workflow timeout counts from its admission
            await tasks.set_deadline(
                conn,
                task_id,
                now + timedelta(milliseconds=timeout_ms),
                status=TaskStatus.GENERATING_PROMPT,
            )
        return Verdict(True)


async def admit_waiting(
    pool: asyncpg.Pool, installation_id: int, installation: Limits, now: datetime
) -> list[int]:
    """Admit the installation's waiting requests that fit now (a run ended, the
    day rolled over); the ids of the tasks admitted."""
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, lock_key(installation_id))
        before = {a.id: a.task_id for a in await admissions.waiting(conn, installation_id)}
        decided = await _admit_in_order(conn, installation_id, installation, now, asking=None)
    return [before[i] for i, limit in decided.items() if limit is None and i in before]


async def _admit_in_order(
    conn: asyncpg.Connection,
    installation_id: int,
    installation: Limits,
    now: datetime,
    *,
    asking: int | None,
) -> dict[int, Limit | None]:
    """Under the installation's lock: end what moved on, count, admit in order.
    Each request admitted here for a task other than the asking one gets a fresh
    workflow deadline and its `task.advance` job; each still waiting whose place
    or reason changed gets its tracking comment rendered again."""
    await admissions.reconcile(conn, installation_id, now)
    total, per_repo = await admissions.usage(conn, installation_id, decide.day_start(now))
    queue = await admissions.waiting(conn, installation_id)
    plan = decide.plan(
        [decide.Waiting(a.id, a.repository, a.limits) for a in queue], per_repo, installation, total
    )
    by_id = {a.id: a for a in queue}
    earlier: list[str] = []  # the repositories of the requests still waiting, in order
    day = decide.day_start(now).date().isoformat()
    decided: dict[int, Limit | None] = {}
    for request, limit in plan:
        entry = by_id[request.id]
        decided[entry.id] = limit
        if limit is None:
            await admissions.admit(conn, entry.id, now)
            if entry.id != asking:
                await tasks.set_deadline(
                    conn,
                    entry.task_id,
                    now + timedelta(milliseconds=entry.timeout_ms),
                    status=TaskStatus.GENERATING_PROMPT,
                )
                stamp = int(entry.queued_at.timestamp() * 1000)
                await schedule.enqueue_advance(conn, entry.task_id, f"admitted:{entry.id}:{stamp}")
            continue
        n_ahead = decide.ahead(
            limit, sum(1 for r in earlier if r == entry.repository), len(earlier)
        )
        earlier.append(entry.repository)
        if entry.blocked_by != limit:
            await admissions.hold(conn, entry.id, limit)
        if entry.id != asking:
            await schedule.enqueue_render(
                conn, entry.task_id, f"budget:{entry.id}:{day}:{limit}:{n_ahead}"
            )
    return decided


async def enqueue_admit(conn: Any, installation_id: int, reason: str) -> None:
    """After a run ended (or a request left the queue): admit what fits now, by a
    job enqueued in the caller's transaction, once per `reason`."""
    await jobs.enqueue(
        conn,
        ADMIT_JOB,
        {"installation_id": installation_id},
        dedup_key=f"budget:admit:{installation_id}:{reason}",
    )


def limit_value(limit: Limit, repository: Limits, installation: Limits) -> int:
    """The number the limit that holds a request stands at."""
    return {
        Limit.REPO_DAILY: repository.runs_per_day,
        Limit.REPO_CONCURRENT: repository.concurrent,
        Limit.INSTALLATION_DAILY: installation.runs_per_day,
        Limit.INSTALLATION_CONCURRENT: installation.concurrent,
    }[limit]


async def waiting_text(
    conn: asyncpg.Connection | asyncpg.Pool, task_id: int, installation: Limits, now: datetime
) -> str | None:
    """The tracking comment's (and `/codegen status`'s) line for a task waiting
    in the budget queue, or None when it does not wait."""
    place = await admissions.place(conn, task_id)
    if place is None or place.admission.blocked_by is None:
        return None
    entry = place.admission
    limit = entry.blocked_by
    n_ahead = decide.ahead(limit, place.ahead_in_repository, place.ahead_in_installation)
    value = limit_value(limit, entry.limits, installation)
    return decide.queue_text(limit, value, n_ahead, decide.next_reset(now))


async def budget_lines(
    conn: asyncpg.Connection | asyncpg.Pool,
    installation_id: int,
    repository: str,
    limits: Limits,
    installation: Limits,
    now: datetime,
) -> list[str]:
    """`/codegen status`: what is left today for the repository and the installation."""
    total, per_repo = await admissions.usage(conn, installation_id, decide.day_start(now))
    mine = per_repo.get(repository.lower(), decide.Usage())
    return decide.budget_lines(limits, mine, installation, total, decide.next_reset(now))
