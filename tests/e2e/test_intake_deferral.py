"""`serve` runs the intake and the worker in one process: while webhook
requests are waiting, the worker defers its claims to them (GitHub needs an
answer within 10 s; a stored job can wait), for a bounded time, and nothing
is lost across the deferral."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aiohttp

from app.service import build_worker
from tests.support.bot import delivery_headers, running_bot
from tests.support.flow import wait_until


class HeldRequest:
    """A signed delivery whose body is sent in two halves, the second only on
    `release()`: until then the intake has a request waiting, as it does under
    load."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.body = json.dumps({"zen": "held", "hook_id": 1}).encode()
        self._gate = asyncio.Event()
        self._session = session
        self._url = url
        self.task: asyncio.Task[int] | None = None

    async def _chunks(self) -> AsyncIterator[bytes]:
        half = len(self.body) // 2
        yield self.body[:half]
        await self._gate.wait()
        yield self.body[half:]

    async def _post(self) -> int:
        headers = delivery_headers("ping", self.body)
        headers["Content-Length"] = str(len(self.body))
        async with self._session.post(self._url, data=self._chunks(), headers=headers) as answer:
            return answer.status

    def start(self) -> None:
        self.task = asyncio.create_task(self._post())

    async def release(self) -> int:
        self._gate.set()
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


async def test_worker_waits_while_a_request_is_waiting_then_runs_every_job(settings):
    async with running_bot(settings, worker=False) as bot:
        load = bot.intake_load
        assert load is not None
        worker = build_worker(bot.runtime, yield_to=load)
        worker.max_deferral_seconds = 3600.0  # only the intake going idle ends it here
        await worker.start()
        held = HeldRequest(bot.session, bot.webhook_url)
        try:
            await bot.wait_idle()  # what start-up queued has run
            held.start()
            await wait_until(load.busy)
            guids = await deliver_unhandled(bot, 5)
            # The worker woke for the new jobs and is waiting for the intake.
            await wait_until(lambda: worker.deferrals >= 1)
            assert set((await statuses(bot.runtime.pool, guids)).values()) == {"queued"}
            assert (
                await bot.runtime.pool.fetchval(
                    "SELECT count(*) FROM jobs WHERE status = 'running'"
                )
                == 0
            )
            assert await held.release() == 200
            await bot.wait_idle()
            assert await statuses(bot.runtime.pool, guids) == dict.fromkeys(guids, "ignored")
            jobs = await bot.runtime.pool.fetch(
                """SELECT payload->>'delivery_id' AS guid, status FROM jobs
                   WHERE payload->>'delivery_id' = ANY($1::text[])""",
                guids,
            )
            assert sorted((r["guid"], r["status"]) for r in jobs) == sorted(
                (guid, "done") for guid in guids
            )
        finally:
            if not held._gate.is_set():
                await held.release()
            await worker.stop(5)


async def test_jobs_still_run_while_the_intake_stays_busy(settings):
    """The deferral is bounded: with a request waiting throughout, the jobs
    run anyway, a claim per `max_deferral_seconds`."""
    async with running_bot(settings) as bot:
        assert bot.worker is not None and bot.intake_load is not None
        bot.worker.max_deferral_seconds = 0.05
        held = HeldRequest(bot.session, bot.webhook_url)
        held.start()
        try:
            await wait_until(bot.intake_load.busy)
            guids = await deliver_unhandled(bot, 12)  # more than one claim's worth
            await wait_until(lambda: _all_ignored(bot.runtime.pool, guids), timeout=30)
            assert bot.intake_load.busy()  # the request was waiting all along
            assert bot.worker.deferrals >= 1
        finally:
            assert await held.release() == 200


async def _all_ignored(pool, guids: list[str]) -> bool:
    return await statuses(pool, guids) == dict.fromkeys(guids, "ignored")
