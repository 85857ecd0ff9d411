"""The budget queue's jobs: `budget.admit` after a run ended (or a request left
the queue), and `budget.check`, a periodic admission that starts the queue's
tasks when the UTC day rolls over and catches any ending no job announced."""

from __future__ import annotations

from datetime import UTC, datetime

from app.budgets import admission
from app.budgets import store as admissions
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime

registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(admission.ADMIT_JOB)
async def admit_job(runtime: Runtime, job: Job) -> None:
    await admission.admit_waiting(
        runtime.pool,
        job.payload["installation_id"],
        admission.installation_limits(runtime.settings),
        datetime.now(UTC),
    )


# How often waiting requests are looked at without a run ending: the daily
# limits reset at 00:00 UTC, and a queued task starts at most this late after.
@registry.periodic(admission.CHECK_JOB, every=lambda settings: settings.budget_check_seconds)
async def check_job(runtime: Runtime, job: Job) -> None:
    await check(runtime, datetime.now(UTC))


async def check(runtime: Runtime, now: datetime) -> list[int]:
    """Admit what fits now in every installation with a waiting request; the ids
    of the tasks admitted. `now` is the clock the day's counts are taken at."""
    started: list[int] = []
    limits = admission.installation_limits(runtime.settings)
    for installation_id in await admissions.installations_waiting(runtime.pool):
        started += await admission.admit_waiting(runtime.pool, installation_id, limits, now)
    return started
