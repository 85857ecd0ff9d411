"""The queue claims a delivery's job before every other ready job
(app/queue/store.py `FIRST_KINDS`): a label's first feedback is written by
that job, so it must not wait behind slower jobs enqueued before it."""

from __future__ import annotations

import asyncio

from app.deliveries.store import DELIVERY_JOB_KIND
from app.queue import store as jobs
from app.queue.worker import Worker
from tests.support.flow import wait_until


def test_the_delivery_job_kind_is_claimed_first():
    assert DELIVERY_JOB_KIND in jobs.FIRST_KINDS  # the queue names it as a string


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
    worker = Worker(
        pool,
        dsn,
        {"background": slow, DELIVERY_JOB_KIND: delivery},
        concurrency=1,
        lease_seconds=5,
        poll_seconds=0.2,
    )
    await worker.start()
    try:
        await wait_until(lambda: len(ran) == 5, timeout=20)
    finally:
        await worker.stop(1)
    assert ran[0] == "delivery"  # one slot: before it, 0.8 s of background jobs
