"""The REST API's tables (app/api/store.py) on the embedded PostgreSQL: one
count per window whichever connection pool asks, and idempotent answers kept,
replayed, released and forgotten."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.api import store
from app.db import create_pool


async def test_two_pools_count_one_window(pool, dsn):
    other = await create_pool(dsn, min_size=1, max_size=4)
    try:
        counts = await asyncio.gather(*(store.hit(p, "key:ci", 900) for p in [pool, other] * 10))
    finally:
        await other.close()
    assert sorted(n for n, _ in counts) == list(range(1, 21))
    assert all(0 < remaining <= 900 for _, remaining in counts)
    assert (await store.hit(pool, "key:other", 900))[0] == 1


async def test_old_windows_are_forgotten(pool):
    await store.hit(pool, "address:1", 1)
    assert await store.forget_windows(pool, datetime.now(UTC) - timedelta(hours=1)) == 0
    assert await store.forget_windows(pool, datetime.now(UTC) + timedelta(seconds=5)) == 1


async def test_an_answer_is_claimed_once_remembered_released_and_forgotten(pool):
    assert await store.claim_idempotency(pool, "ci", "k1", "hash-a") is None
    pending = await store.claim_idempotency(pool, "ci", "k1", "hash-a")
    assert pending == store.Remembered("hash-a", None, None)
    assert await store.claim_idempotency(pool, "deploys", "k1", "hash-b") is None  # other key
    await store.remember_answer(pool, "ci", "k1", 201, b'{"id": 1}')
    assert await store.claim_idempotency(pool, "ci", "k1", "hash-a") == store.Remembered(
        "hash-a", 201, b'{"id": 1}'
    )
    await store.release_idempotency(pool, "ci", "k1")  # answered: kept
    assert (await store.claim_idempotency(pool, "ci", "k1", "x")).status == 201
    await store.release_idempotency(pool, "deploys", "k1")  # unanswered: free again
    assert await store.claim_idempotency(pool, "deploys", "k1", "hash-c") is None
    assert await store.forget_answers(pool, datetime.now(UTC) - timedelta(hours=1)) == 0
    assert await store.forget_answers(pool, datetime.now(UTC) + timedelta(seconds=5)) == 2
