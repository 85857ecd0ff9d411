"""Periodic jobs are rows of the same queue: once per period across workers,
and a restart neither duplicates nor loses the next occurrence."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from app.observability import metrics
from app.queue import periodic
from app.queue.registry import JobRegistry
from app.queue.worker import Worker

KIND = "test.tick"


def registry_recording(runs: list[tuple[int, str]], every: float) -> JobRegistry:
    registry = JobRegistry()

    @registry.periodic(KIND, every=every)
    async def tick(runtime, job):
        runs.append((job.payload["period"], runtime.name))

    return registry


def worker_for(pool, dsn, registry: JobRegistry, name: str) -> Worker:
    runtime = SimpleNamespace(pool=pool, settings=None, name=name)
    run, on_dead = registry.bind(runtime)
    return Worker(
        pool,
        dsn,
        run,
        concurrency=2,
        lease_seconds=5,
        poll_seconds=0.1,
        retry_base_seconds=0.05,
        on_dead=on_dead,
        schedules=registry.schedules(None),
    )


async def rows(pool) -> list:
    return await pool.fetch(
        "SELECT dedup_key, status, payload->>'period' AS period FROM jobs WHERE kind = $1 "
        "ORDER BY id",
        KIND,
    )


async def test_two_workers_run_a_periodic_job_once_per_period(pool, dsn):
    runs: list[tuple[int, str]] = []
    every = 0.5
    registry = registry_recording(runs, every)
    before = (
        metrics.REGISTRY.get_sample_value("codegen_bot_periodic_runs_total", {"kind": KIND}) or 0.0
    )
    workers = [worker_for(pool, dsn, registry, name) for name in ("a", "b")]
    start = time.time()
    for worker in workers:
        await worker.start()
    try:
        await asyncio.sleep(3.2)
    finally:
        for worker in workers:
            await worker.stop(1)
    periods = [period for period, _ in runs]
    assert len(periods) == len(set(periods)), f"a period ran twice: {periods}"
    # Every period from start-up on ran, each once, and without a gap.
    first = periodic.period_of(start, every)
    assert periods[0] in (first, first + 1)
    assert periods == list(range(periods[0], periods[0] + len(periods)))
    assert len(periods) >= 5
    assert {name for _, name in runs} <= {"a", "b"}
    keys = [r["dedup_key"] for r in await rows(pool)]
    assert len(keys) == len(set(keys))
    assert [r["status"] for r in await rows(pool)].count("queued") == 1
    after = metrics.REGISTRY.get_sample_value("codegen_bot_periodic_runs_total", {"kind": KIND})
    assert after - before == len(runs)
    lag = metrics.REGISTRY.get_sample_value(
        "codegen_bot_periodic_lag_seconds_count", {"kind": KIND}
    )
    assert lag is not None and lag >= len(runs)


async def test_a_restart_neither_duplicates_nor_loses_the_next_occurrence(pool, dsn):
    runs: list[tuple[int, str]] = []
    every = 3600.0
    registry = registry_recording(runs, every)
    current = periodic.period_of(time.time(), every)

    first = worker_for(pool, dsn, registry, "first")
    await first.start()
    try:
        for _ in range(100):
            if runs and any(r["status"] == "queued" for r in await rows(pool)):
                break
            await asyncio.sleep(0.05)
    finally:
        await first.stop(1)
    # It ran at start-up, for this period, and queued the next one.
    assert runs == [(current, "first")]
    assert [(r["period"], r["status"]) for r in await rows(pool)] == [
        (str(current), "done"),
        (str(current + 1), "queued"),
    ]

    # Two processes restart at once: nothing is added, nothing runs again.
    again = [worker_for(pool, dsn, registry, name) for name in ("second", "third")]
    for worker in again:
        await worker.start()
    await asyncio.sleep(0.5)
    for worker in again:
        await worker.stop(1)
    assert runs == [(current, "first")]
    assert len(await rows(pool)) == 2

    # The pending occurrence is lost (say, removed by hand): the next start-up
    # adds the next period's, not a second run of this one.
    await pool.execute("DELETE FROM jobs WHERE kind = $1 AND status = 'queued'", KIND)
    last = worker_for(pool, dsn, registry, "last")
    await last.start()
    await asyncio.sleep(0.5)
    await last.stop(1)
    assert runs == [(current, "first")]
    assert [(r["period"], r["status"]) for r in await rows(pool)] == [
        (str(current), "done"),
        (str(current + 1), "queued"),
    ]


async def test_a_long_stale_occurrence_runs_once_and_schedules_from_now(pool, dsn):
    """After hours down, one catch-up run, then the schedule resumes from now."""
    runs: list[tuple[int, str]] = []
    every = 60.0
    registry = registry_recording(runs, every)
    now = time.time()
    stale = periodic.period_of(now, every) - 120
    await periodic.enqueue_occurrence(pool, KIND, every, stale, now=now)
    worker = worker_for(pool, dsn, registry, "w")
    await worker.start()
    try:
        for _ in range(100):
            if runs:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        await worker.stop(1)
    assert runs == [(stale, "w")]
    current = periodic.period_of(time.time(), every)
    assert [(r["period"], r["status"]) for r in await rows(pool)] == [
        (str(stale), "done"),
        (str(current + 1), "queued"),
    ]


async def test_a_changed_period_takes_effect_and_zero_stops_the_chain(pool, dsn):
    """A deploy that changes the period: the pending occurrence (counted in the
    old one) runs and schedules the next in the new one; a deploy that turns the
    kind off: the pending occurrence does nothing and adds none."""
    runs: list[tuple[int, str]] = []
    settings = SimpleNamespace(every=120.0)
    registry = JobRegistry()

    @registry.periodic(KIND, every=lambda s: s.every)
    async def tick(runtime, job):
        runs.append((job.payload["period"], runtime.name))

    old = periodic.period_of(time.time(), 60.0)
    await periodic.enqueue_occurrence(pool, KIND, 60.0, old)
    run, _ = registry.bind(SimpleNamespace(pool=pool, settings=settings, name="w"))
    worker = Worker(pool, dsn, run, poll_seconds=0.1, schedules=registry.schedules(settings))
    await worker.start()
    try:
        for _ in range(100):
            if len(await rows(pool)) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop(1)
    assert runs == [(old, "w")]
    queued = [r for r in await rows(pool) if r["status"] == "queued"]
    assert [r["dedup_key"] for r in queued] == [
        periodic.dedup_key(KIND, periodic.period_of(time.time(), 120.0) + 1)
    ]

    settings.every = 0.0
    assert registry.schedules(settings) == []
    await pool.execute("UPDATE jobs SET run_at = now() WHERE kind = $1", KIND)
    worker = Worker(pool, dsn, run, poll_seconds=0.1, schedules=registry.schedules(settings))
    await worker.start()
    try:
        for _ in range(100):
            if not any(r["status"] == "queued" for r in await rows(pool)):
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop(1)
    assert runs == [(old, "w")]
    assert [r["status"] for r in await rows(pool)] == ["done", "done"]
