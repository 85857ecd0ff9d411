"""A retention pass run by the real worker while the real intake takes
deliveries: every delivery posted meanwhile is stored with its job, answered
promptly, and the old rows are gone at the end."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid

from app.observability import metrics
from app.queue import store as jobs
from app.retention.jobs import RETENTION_JOB
from tests.support.bot import running_bot

OLD_ROWS = 3000
BATCH = 100


async def seed_old(pool) -> None:
    """Old processed deliveries, each with its finished job, as one statement."""
    await pool.execute(
        """WITH d AS (
               INSERT INTO webhook_deliveries (id, event, payload, received_at, status)
               SELECT 'old-' || n, 'issues', '\\x7b7d'::bytea,
                      now() - interval '40 days', 'processed'
               FROM generate_series(1, $1) AS n
               RETURNING id)
           INSERT INTO jobs (kind, payload, status, created_at, finished_at)
           SELECT 'delivery', jsonb_build_object('delivery_id', id), 'done',
                  now() - interval '40 days', now() - interval '40 days'
           FROM d""",
        OLD_ROWS,
    )


async def test_retention_runs_beside_the_intake_without_blocking_it(settings, example_payload):
    settings = dataclasses.replace(
        settings, retention_batch_size=BATCH, retention_pause_seconds=0.02
    )
    async with running_bot(settings) as bot:
        pool = bot.runtime.pool
        await seed_old(pool)
        payload = example_payload("issues", "labeled")
        body = json.dumps(payload).encode()
        start_batches = metrics.RETENTION_BATCHES._value.get()
        job_id = await jobs.enqueue(pool, RETENTION_JOB)

        posted: list[tuple[str, float, float]] = []  # guid, seconds, batches at answer

        async def post() -> None:
            guid = str(uuid.uuid4())
            began = time.monotonic()
            status, answer = await bot.deliver("issues", body, guid)
            assert (status, answer["status"]) == (202, "queued")
            posted.append((guid, time.monotonic() - began, metrics.RETENTION_BATCHES._value.get()))

        async def retention_done() -> bool:
            return await pool.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) == "done"

        deadline = time.monotonic() + 60
        while not await retention_done():
            assert time.monotonic() < deadline, "the retention pass did not finish"
            await asyncio.gather(*(post() for _ in range(5)))
        end_batches = metrics.RETENTION_BATCHES._value.get()

        # It went in batches, and deliveries were answered while it was between them.
        assert end_batches - start_batches >= 2 * OLD_ROWS // BATCH
        assert any(start_batches < b < end_batches for _, _, b in posted)
        assert max(seconds for _, seconds, _ in posted) < 5.0

        guids = [guid for guid, _, _ in posted]
        stored = await pool.fetch(
            """SELECT d.id, count(j.id) AS jobs FROM webhook_deliveries d
               LEFT JOIN jobs j ON j.kind = 'delivery' AND j.payload->>'delivery_id' = d.id
               WHERE d.id = ANY($1::text[]) GROUP BY d.id""",
            guids,
        )
        assert {r["id"]: r["jobs"] for r in stored} == dict.fromkeys(guids, 1)
        assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == len(guids)
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM jobs WHERE finished_at < now() - interval '30 days'"
            )
            == 0
        )
