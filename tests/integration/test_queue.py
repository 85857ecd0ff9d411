"""The PostgreSQL job queue: claiming, retries, scheduling, leases, shutdown."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.queue import store as jobs
from app.queue.worker import PermanentJobError, Worker

ROOT = Path(__file__).resolve().parents[2]


def make_worker(pool, dsn, handlers, **options) -> Worker:
    defaults = {
        "concurrency": 3,
        "lease_seconds": 5,
        "poll_seconds": 0.2,
        "retry_base_seconds": 0.05,
    }
    return Worker(pool, dsn, handlers, **{**defaults, **options})


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(interval)


async def job_row(pool, job_id):
    return await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)


async def test_job_runs_once_and_is_done(pool, dsn):
    seen = []

    async def handler(job):
        seen.append(job.payload)

    job_id = await jobs.enqueue(pool, "t", {"n": 1})
    worker = make_worker(pool, dsn, {"t": handler})
    await worker.start()
    try:
        row = await wait_for(lambda: _status(pool, job_id, "done"))
    finally:
        await worker.stop(1)
    assert seen == [{"n": 1}]
    assert row["attempts"] == 1
    assert row["finished_at"] is not None


async def _status(pool, job_id, status):
    row = await job_row(pool, job_id)
    return row if row["status"] == status else None


async def test_failing_job_retries_with_backoff_then_dies_keeping_error(pool, dsn):
    attempts = []

    async def handler(job):
        attempts.append(time.monotonic())
        raise RuntimeError(f"boom on attempt {job.attempts}")

    job_id = await jobs.enqueue(pool, "t", max_attempts=4)
    worker = make_worker(pool, dsn, {"t": handler}, retry_base_seconds=0.2)
    await worker.start()
    try:
        row = await wait_for(lambda: _status(pool, job_id, "dead"))
    finally:
        await worker.stop(1)
    assert len(attempts) == 4
    assert row["attempts"] == 4
    assert "RuntimeError: boom on attempt 4" in row["last_error"]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # Full jitter between half and all of base * 2^(n-1): 0.1-0.2, 0.2-0.4, 0.4-0.8 s.
    assert gaps[0] >= 0.09 and gaps[2] >= 0.39
    assert gaps[2] > gaps[0]


async def test_permanent_error_dies_at_once(pool, dsn):
    async def handler(job):
        raise PermanentJobError("cannot ever work")

    job_id = await jobs.enqueue(pool, "t", max_attempts=5)
    worker = make_worker(pool, dsn, {"t": handler})
    await worker.start()
    try:
        row = await wait_for(lambda: _status(pool, job_id, "dead"))
    finally:
        await worker.stop(1)
    assert row["attempts"] == 1
    assert "cannot ever work" in row["last_error"]


async def test_unknown_kind_is_dead_with_a_clear_error(pool, dsn):
    job_id = await jobs.enqueue(pool, "no-such-kind")
    worker = make_worker(pool, dsn, {})
    await worker.start()
    try:
        row = await wait_for(lambda: _status(pool, job_id, "dead"))
    finally:
        await worker.stop(1)
    assert "no handler for job kind 'no-such-kind'" in row["last_error"]


async def test_a_job_failing_for_good_gets_its_kinds_clean_up_once(pool, dsn):
    cleaned: list[tuple[int, str | None]] = []

    async def handler(job):
        raise RuntimeError("still broken")

    async def clean_up(job):
        cleaned.append((job.id, await jobs.last_error(pool, job.id)))

    job_id = await jobs.enqueue(pool, "t", max_attempts=2)
    worker = make_worker(pool, dsn, {"t": handler}, on_dead={"t": clean_up})
    await worker.start()
    try:
        await wait_for(lambda: _status(pool, job_id, "dead"))
        await wait_for(lambda: asyncio.sleep(0, cleaned))
    finally:
        await worker.stop(1)
    assert cleaned == [(job_id, "RuntimeError: still broken")]


async def test_scheduled_job_waits_for_run_at(pool, dsn):
    ran_at = []

    async def handler(job):
        ran_at.append(time.monotonic())

    worker = make_worker(pool, dsn, {"t": handler}, poll_seconds=5)
    await worker.start()
    try:
        queued_at = time.monotonic()
        job_id = await jobs.enqueue(pool, "t", delay=1.0)
        await wait_for(lambda: _status(pool, job_id, "done"))
    finally:
        await worker.stop(1)
    assert 0.9 <= ran_at[0] - queued_at < 3.0


async def test_notify_wakes_an_idle_worker_before_its_poll(pool, dsn):
    done = asyncio.Event()

    async def handler(job):
        done.set()

    worker = make_worker(pool, dsn, {"t": handler}, poll_seconds=30)
    await worker.start()
    try:
        await asyncio.sleep(0.5)  # the worker is now waiting out its 30 s poll
        started = time.monotonic()
        await jobs.enqueue(pool, "t")
        await asyncio.wait_for(done.wait(), 5)
        assert time.monotonic() - started < 2
    finally:
        await worker.stop(1)


async def test_an_empty_queue_has_no_next_job_so_an_idle_worker_waits(pool):
    """No queued job means no time to wake for: None, not 0 (an idle worker
    re-queried the table every 50 ms when this said 0)."""
    assert await jobs.seconds_until_next(pool) is None
    done = await jobs.enqueue(pool, "t")
    await pool.execute("UPDATE jobs SET status = 'done' WHERE id = $1", done)
    assert await jobs.seconds_until_next(pool) is None
    await jobs.enqueue(pool, "t", delay=30)
    assert 25 < await jobs.seconds_until_next(pool) <= 30
    await jobs.enqueue(pool, "t")
    assert await jobs.seconds_until_next(pool) == 0


async def test_dedup_key_enqueues_once(pool):
    first = await jobs.enqueue(pool, "t", dedup_key="task:1:attempt:1")
    second = await jobs.enqueue(pool, "t", dedup_key="task:1:attempt:1")
    assert first is not None and second is None
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 1


async def test_at_most_concurrency_jobs_run_at_once(pool, dsn):
    running = 0
    peak = 0

    async def handler(job):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1

    for _ in range(10):
        await jobs.enqueue(pool, "t")
    worker = make_worker(pool, dsn, {"t": handler}, concurrency=3)
    await worker.start()
    try:
        await wait_for(lambda: _all_done(pool, 10))
    finally:
        await worker.stop(1)
    assert peak == 3


async def _all_done(pool, n):
    return await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'done'") == n


async def test_two_workers_never_run_the_same_job(pool, dsn):
    runs: list[int] = []

    async def handler(job):
        runs.append(job.id)
        await asyncio.sleep(0.01)

    for _ in range(60):
        await jobs.enqueue(pool, "t")
    workers = [make_worker(pool, dsn, {"t": handler}, concurrency=4) for _ in range(3)]
    for worker in workers:
        await worker.start()
    try:
        await wait_for(lambda: _all_done(pool, 60))
    finally:
        for worker in workers:
            await worker.stop(1)
    assert sorted(runs) == sorted(set(runs)) and len(runs) == 60


# -- real processes: SIGKILL and SIGTERM ----------------------------------------


def start_worker_process(dsn: str, **env: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.worker_proc", dsn],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.fixture
async def job_log(pool):
    await pool.execute(
        """CREATE TABLE job_log (job_id bigint, pid int, attempt int,
                                 finished boolean NOT NULL DEFAULT false)"""
    )


async def test_job_held_by_a_killed_process_is_run_by_another(pool, dsn, job_log):
    job_id = await jobs.enqueue(pool, "sleep", {"seconds": 0.5})
    first = start_worker_process(dsn, LEASE="2")
    try:
        victim_pid = first.pid
        await wait_for(lambda: pool.fetchval("SELECT pid FROM job_log WHERE job_id = $1", job_id))
        first.send_signal(signal.SIGKILL)  # no chance to release or finish
        first.wait(5)
    finally:
        first.kill()
    held = await job_row(pool, job_id)
    assert held["status"] == "running" and held["lease_owner"].split(":")[1] == str(victim_pid)

    second = start_worker_process(dsn, LEASE="2")
    try:
        row = await wait_for(lambda: _status(pool, job_id, "done"), timeout=20)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
    log = await pool.fetch("SELECT * FROM job_log WHERE job_id = $1 ORDER BY attempt", job_id)
    assert [(r["pid"], r["attempt"], r["finished"]) for r in log] == [
        (victim_pid, 1, False),
        (second.pid, 2, True),
    ]
    assert row["attempts"] == 2


async def test_sigterm_finishes_short_jobs_releases_long_ones_and_exits_0(pool, dsn, job_log):
    short = await jobs.enqueue(pool, "sleep", {"seconds": 0.5})
    long = await jobs.enqueue(pool, "sleep", {"seconds": 60})
    proc = start_worker_process(dsn, GRACE="2", CONCURRENCY="2", LEASE="30")
    try:
        await wait_for(lambda: _count_started(pool, 2))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
    finally:
        proc.kill()
    assert (await job_row(pool, short))["status"] == "done"
    released = await job_row(pool, long)
    assert released["status"] == "queued"
    assert released["lease_owner"] is None
    assert released["attempts"] == 0  # handing back is not a failed attempt
    # Nothing new is claimed after SIGTERM: the log has exactly the two starts.
    assert await pool.fetchval("SELECT count(*) FROM job_log") == 2


async def _count_started(pool, n):
    return await pool.fetchval("SELECT count(*) FROM job_log") >= n


async def test_expired_lease_out_of_attempts_goes_dead(pool):
    job_id = await jobs.enqueue(pool, "t", max_attempts=1)
    claimed = await jobs.claim(pool, "ghost", 1, lease_seconds=0.01)
    assert [j.id for j in claimed] == [job_id]
    await asyncio.sleep(0.05)
    reaped, dead = await jobs.reclaim_expired(pool, "reaper", 5)
    assert reaped == 1 and [j.id for j in dead] == [job_id]
    row = await job_row(pool, job_id)
    # Leased to the reaper for its clean-up; dead only once buried.
    assert (row["status"], row["lease_owner"]) == ("running", "reaper")
    assert "lease expired" in row["last_error"]
    assert json.loads(row["payload"]) == {}
    await jobs.bury(pool, job_id, "reaper")
    row = await job_row(pool, job_id)
    assert (row["status"], row["lease_owner"]) == ("dead", None)


async def test_a_reaper_that_dies_before_burying_leaves_the_clean_up_to_the_next(pool):
    """Marking a job dead before its clean-up ran lost the clean-up when the
    reaping process died in between: the job stays leased until buried."""
    job_id = await jobs.enqueue(pool, "t", max_attempts=1)
    await jobs.claim(pool, "ghost", 1, lease_seconds=0.01)
    await asyncio.sleep(0.05)
    _, dead = await jobs.reclaim_expired(pool, "reaper-1", 0.01)
    assert [j.id for j in dead] == [job_id]
    await asyncio.sleep(0.05)  # reaper-1 died without burying it
    _, dead = await jobs.reclaim_expired(pool, "reaper-2", 5)
    assert [j.id for j in dead] == [job_id]
    await jobs.bury(pool, job_id, "reaper-1")  # too late: no longer its lease
    assert (await job_row(pool, job_id))["status"] == "running"
    await jobs.bury(pool, job_id, "reaper-2")
    assert (await job_row(pool, job_id))["status"] == "dead"


async def test_a_job_is_dead_only_after_its_clean_up(pool, dsn):
    """Readers that see `dead` can rely on the clean-up having run (it ran after
    the dead mark, and a crash in between lost it)."""
    cleaned: list[str | None] = []

    async def handler(job):
        raise PermanentJobError("broken for good")

    async def clean_up(job):
        await asyncio.sleep(0.3)
        cleaned.append(await jobs.last_error(pool, job.id))

    job_id = await jobs.enqueue(pool, "t", max_attempts=3)
    worker = make_worker(pool, dsn, {"t": handler}, on_dead={"t": clean_up})
    await worker.start()
    try:
        await wait_for(lambda: _status(pool, job_id, "dead"), interval=0.01)
        assert len(cleaned) == 1  # already done when `dead` became visible
    finally:
        await worker.stop(1)
    assert "broken for good" in (cleaned[0] or "")


async def test_reschedule_waits_without_spending_an_attempt(pool, dsn):
    from app.queue.worker import RescheduleJob

    runs: list[float] = []

    async def handler(job):
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise RescheduleJob(0.3, "rate limited")

    job_id = await jobs.enqueue(pool, "t", max_attempts=1)
    worker = make_worker(pool, dsn, {"t": handler})
    await worker.start()
    try:
        row = await wait_for(lambda: _status(pool, job_id, "done"))
    finally:
        await worker.stop(1)
    assert len(runs) == 3  # never dead although max_attempts is 1
    assert runs[1] - runs[0] >= 0.28 and runs[2] - runs[1] >= 0.28
    assert row["attempts"] == 1
