"""The `maintenance.retention` job: one pass deleting deliveries, finished jobs
and command ledgers older than RETENTION_DAYS.

Each batch is one short `DELETE ... LIMIT n FOR UPDATE SKIP LOCKED` statement
(its own transaction), with a pause between batches: the intake and the workers
never wait behind a long lock, and rows they hold are skipped, not waited for.
Tasks, agent runs, validations, pull requests and follow-ups are kept.

The period (RETENTION_SECONDS) is for the periodic scheduler to enqueue this
kind with; a pass may also be enqueued by hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from app.commands import denials_store, log_store
from app.deliveries import store as deliveries
from app.observability import metrics
from app.queue import store as jobs
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

RETENTION_JOB = "maintenance.retention"

DeleteBatch = Callable[[asyncpg.Pool, datetime, int], Awaitable[int]]

# In this order: deliveries first, so a command's ledger row goes only after the
# delivery that carried it (nothing can replay that comment any more).
TABLES: tuple[tuple[str, DeleteBatch], ...] = (
    ("webhook_deliveries", deliveries.delete_old_batch),
    ("jobs", jobs.delete_finished_batch),
    ("commands", log_store.delete_old_batch),
    ("command_denials", denials_store.delete_old_batch),
)


async def run_pass(
    pool: asyncpg.Pool,
    *,
    days: int,
    batch_size: int,
    pause_seconds: float,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete, table by table, everything older than `days`, `batch_size` rows a
    statement; returns rows deleted per table. `days` 0 deletes nothing."""
    deleted = {table: 0 for table, _ in TABLES}
    if days <= 0:
        return deleted
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    for table, delete_batch in TABLES:
        while True:
            count = await delete_batch(pool, cutoff, batch_size)
            metrics.RETENTION_BATCHES.inc()
            metrics.RETENTION_DELETED.labels(table).inc(count)
            deleted[table] += count
            if count < batch_size:
                break
            await asyncio.sleep(pause_seconds)
    return deleted


@registry.periodic(
    RETENTION_JOB,
    every=lambda settings: settings.retention_seconds if settings.retention_days else 0.0,
)
async def retention_pass(runtime: Runtime, job: Job) -> None:
    settings = runtime.settings
    deleted = await run_pass(
        runtime.pool,
        days=settings.retention_days,
        batch_size=settings.retention_batch_size,
        pause_seconds=settings.retention_pause_seconds,
    )
    log.info(
        "retention: deleted %s (older than %d days)",
        ", ".join(f"{n} {table}" for table, n in deleted.items()),
        settings.retention_days,
    )
