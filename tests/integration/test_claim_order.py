"""The queue claims a delivery's job before every other ready job
(app/queue/store.py `FIRST_KIND`): a label's first feedback is written by
that job, so it must not wait behind slower jobs enqueued before it."""

from __future__ import annotations

import asyncio

from app.deliveries.store import DELIVERY_JOB_KIND
from app.queue import store as jobs
from app.queue.worker import Worker
from tests.support.flow import wait_until


def test_the_delivery_job_kind_is_claimed_first():
    assert jobs.FIRST_KIND == DELIVERY_JOB_KIND  # the queue names it as a string


async def test_a_backlog_of_deliveries_is_not_read_to_claim_another_job(pool):
    """The others' part of a claim walks `jobs_ready_others` (migration 023),
    which holds no delivery, not the 20,000 queued deliveries before it."""
    await pool.execute(
        """INSERT INTO jobs (kind, payload) SELECT $1, '{}'::jsonb
           FROM generate_series(1, 20000)""",
        DELIVERY_JOB_KIND,
    )
    background = await jobs.enqueue(pool, "task.advance", {})
    await pool.execute("ANALYZE jobs")
    entries = await pool.fetchval(
        """SELECT count(*) FROM jobs WHERE status = 'queued' AND kind <> $1""", DELIVERY_JOB_KIND
    )
    assert entries == 1
    before = await _index_scans(pool, "jobs_ready_others")
    claimed = await jobs.claim(pool, "w", 4, lease_seconds=30)
    assert [j.kind for j in claimed] == [DELIVERY_JOB_KIND] * 4  # they lead by 30 s
    await wait_until(lambda: _index_scans(pool, "jobs_ready_others", above=before), timeout=10)
    later = "UPDATE jobs SET run_at = now() + interval '1 hour' WHERE kind = $1"
    await pool.execute(later, DELIVERY_JOB_KIND)
    assert [j.id for j in await jobs.claim(pool, "w", 4, lease_seconds=30)] == [background]


async def _index_scans(pool, index: str, above: int | None = None) -> int | bool:
    """How often `index` was read (PostgreSQL's statistics, flushed within a
    second or so); with `above`, whether it was read more often than that."""
    await pool.execute("SELECT pg_stat_force_next_flush()")
    scans = await pool.fetchval(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1", index
    )
    return scans if above is None else scans > above


async def test_a_delivery_is_claimed_before_older_background_jobs(pool):
    background = [await jobs.enqueue(pool, "task.advance", {"n": n}) for n in range(3)]
    delivery = await jobs.enqueue(pool, DELIVERY_JOB_KIND, {"d": 1})
    later = await jobs.enqueue(pool, DELIVERY_JOB_KIND, {"d": 2})
    first = await jobs.claim(pool, "w", 1, lease_seconds=30)
    assert [j.id for j in first] == [delivery]
    rest = await jobs.claim(pool, "w", 10, lease_seconds=30)
    assert [j.id for j in rest] == [later, *background]  # deliveries, then oldest first
    assert await jobs.claim(pool, "w", 10, lease_seconds=30) == []


async def test_a_delayed_delivery_is_not_claimed_early(pool):
    await jobs.enqueue(pool, DELIVERY_JOB_KIND, {}, delay=60)
    background = await jobs.enqueue(pool, "task.advance", {})
    assert [j.id for j in await jobs.claim(pool, "w", 5, lease_seconds=30)] == [background]


async def _one_slot(pool, dsn, handlers: dict, ran: list[str], count: int) -> None:
    """Run a worker with one slot over `handlers` until `count` jobs ran."""
    worker = Worker(pool, dsn, handlers, concurrency=1, lease_seconds=5, poll_seconds=0.2)
    await worker.start()
    try:
        await wait_until(lambda: len(ran) >= count, timeout=20)
    finally:
        await worker.stop(1)


async def test_a_first_feedback_does_not_wait_behind_background_jobs(pool, dsn):
    ran: list[str] = []

    async def slow(job) -> None:
        ran.append("background")
        await asyncio.sleep(0.2)

    async def delivery(job) -> None:
        ran.append("delivery")

    for n in range(4):
        await jobs.enqueue(pool, "background", {"n": n})
    await jobs.enqueue(pool, DELIVERY_JOB_KIND, {})
    await _one_slot(pool, dsn, {"background": slow, DELIVERY_JOB_KIND: delivery}, ran, 5)
    assert ran[0] == "delivery"  # one slot: before it, 0.8 s of background jobs


async def test_a_steady_stream_of_deliveries_does_not_starve_an_older_job(pool, dsn):
    """Deliveries go first only by `FIRST_KINDS_LEAD_SECONDS`: a background job
    ready longer than that before them is claimed, however many keep coming."""
    ran: list[str] = []

    async def background(job) -> None:
        ran.append("background")

    async def delivery(job) -> None:  # each delivery brings the next: never idle
        ran.append("delivery")
        await jobs.enqueue(pool, DELIVERY_JOB_KIND, {})

    waiting = await jobs.enqueue(pool, "background", {})
    await pool.execute(
        "UPDATE jobs SET run_at = now() - make_interval(secs => $2) WHERE id = $1",
        waiting,
        jobs.FIRST_KINDS_LEAD_SECONDS + 5,
    )
    for _ in range(2):
        await jobs.enqueue(pool, DELIVERY_JOB_KIND, {})
    handlers = {"background": background, DELIVERY_JOB_KIND: delivery}
    await _one_slot(pool, dsn, handlers, ran, 20)
    assert "background" in ran[:3]  # not after every delivery still to come


async def test_a_delivery_leads_background_jobs_by_a_bounded_time(pool):
    old = await jobs.enqueue(pool, "task.advance", {})
    await pool.execute(
        "UPDATE jobs SET run_at = now() - make_interval(secs => $2) WHERE id = $1",
        old,
        jobs.FIRST_KINDS_LEAD_SECONDS + 5,
    )
    recent = await jobs.enqueue(pool, "task.advance", {})
    delivery = await jobs.enqueue(pool, DELIVERY_JOB_KIND, {})
    order = [[j.id for j in await jobs.claim(pool, "w", 1, lease_seconds=30)] for _ in range(3)]
    assert order == [[old], [delivery], [recent]]
