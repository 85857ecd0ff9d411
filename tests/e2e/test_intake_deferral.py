"""`serve` runs the intake and the worker in one process: while signed
deliveries wait for their commit, the worker defers its claims to them
(GitHub needs an answer within 10 s; a stored job can wait), for a bounded
time, and nothing is lost across the deferral."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from app.deliveries import store as deliveries
from app.deliveries.store import IncomingDelivery
from app.service import build_worker
from tests.support.bot import running_bot
from tests.support.flow import wait_until


class HeldDelivery:
    """A signed delivery whose commit waits: another transaction has stored its
    id and not committed yet, so the intake's insert waits for it (as it waits
    for a slow commit under load). Until `release()` the intake has a delivery
    waiting; then that transaction rolls back and the delivery is stored."""

    def __init__(self, bot) -> None:
        self.bot = bot
        self.guid = str(uuid.uuid4())
        self.task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.bot.runtime.dsn)
        self._tx = self._conn.transaction()
        await self._tx.start()
        other = IncomingDelivery(self.guid, "star", "created", None, b"{}")
        await deliveries.insert_batch(self._conn, [other], 1)
        self.task = asyncio.create_task(self._deliver())

    async def _deliver(self) -> int:
        status, _ = await self.bot.deliver("star", {"action": "created"}, delivery=self.guid)
        return status

    async def release(self) -> int:
        await self._tx.rollback()
        await self._conn.close()
        assert self.task is not None
        return await self.task


async def statuses(pool, guids: list[str]) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT id, status FROM webhook_deliveries WHERE id = ANY($1::text[])", guids
    )
    return {r["id"]: r["status"] for r in rows}


async def deliver_unhandled(bot, count: int) -> list[str]:
    """Deliveries no handler wants: their jobs record them `ignored`."""
    guids = [str(uuid.uuid4()) for _ in range(count)]
    for guid in guids:
        status, _ = await bot.deliver("star", {"action": "created"}, delivery=guid)
        assert status == 202
    return guids


async def test_worker_waits_while_a_delivery_is_waiting_then_runs_every_job(settings):
    async with running_bot(settings, worker=False) as bot:
        load = bot.intake_load
        assert load is not None
        worker = build_worker(bot.runtime, yield_to=load)
        worker.max_deferral_seconds = 3600.0  # only the intake going idle ends it here
        await worker.start()
        held = HeldDelivery(bot)
        released = False
        try:
            await bot.wait_idle()  # what start-up queued has run
            await held.start()
            await wait_until(load.busy)
            guids = await deliver_unhandled(bot, 5)
            # The worker woke for the new jobs and is waiting for the intake.
            await wait_until(lambda: worker.deferrals >= 1)
            pool = bot.runtime.pool
            assert set((await statuses(pool, guids)).values()) == {"queued"}
            assert await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'running'") == 0
            released = True
            assert await held.release() == 202
            await bot.wait_idle()
            every = [*guids, held.guid]  # nothing lost across the deferral
            assert await statuses(pool, every) == dict.fromkeys(every, "ignored")
            jobs = await pool.fetch(
                """SELECT payload->>'delivery_id' AS guid, status FROM jobs
                   WHERE payload->>'delivery_id' = ANY($1::text[])""",
                every,
            )
            assert sorted((r["guid"], r["status"]) for r in jobs) == sorted(
                (guid, "done") for guid in every
            )
        finally:
            if not released:
                await held.release()
            await worker.stop(5)


async def test_jobs_still_run_while_the_intake_stays_busy(settings):
    """The deferral is bounded: with a delivery waiting throughout, the jobs
    run anyway, a claim per `max_deferral_seconds`."""
    async with running_bot(settings) as bot:
        assert bot.worker is not None and bot.intake_load is not None
        bot.worker.max_deferral_seconds = 0.05
        held = HeldDelivery(bot)
        await held.start()
        released = False
        try:
            await wait_until(bot.intake_load.busy)
            guids = await deliver_unhandled(bot, 12)  # more than one claim's worth
            await wait_until(lambda: _all_ignored(bot.runtime.pool, guids), timeout=30)
            assert bot.intake_load.busy()  # the delivery was waiting all along
            assert bot.worker.deferrals >= 1
            released = True
            assert await held.release() == 202
        finally:
            if not released:
                await held.release()


async def test_stopping_during_a_deferral_leaves_the_jobs_queued(settings):
    """A worker told to stop while it defers stops at once and has claimed
    nothing: the jobs wait, unspent, for the next worker."""
    async with running_bot(settings, worker=False) as bot:
        assert bot.intake_load is not None
        worker = build_worker(bot.runtime, yield_to=bot.intake_load)
        worker.max_deferral_seconds = 3600.0
        await worker.start()
        held = HeldDelivery(bot)
        await held.start()
        try:
            await wait_until(bot.intake_load.busy)
            guids = await deliver_unhandled(bot, 3)
            await wait_until(lambda: worker.deferrals >= 1)
            await asyncio.wait_for(worker.stop(5), 60)  # a hang guard, not a timing check
        finally:
            assert await held.release() == 202
        rows = await bot.runtime.pool.fetch(
            """SELECT status, attempts FROM jobs
               WHERE payload->>'delivery_id' = ANY($1::text[])""",
            guids,
        )
        assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 0)] * 3


async def _all_ignored(pool, guids: list[str]) -> bool:
    return await statuses(pool, guids) == dict.fromkeys(guids, "ignored")
