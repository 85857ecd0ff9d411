"""Lost-delivery recovery: the sweep reads the fake GitHub's delivery log and
asks it to redeliver what failed and was never stored, once; the redeliveries
reach the bot's real intake and worker through a proxy that was down."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import gidgethub
import pytest
from aiohttp import web

from app.deliveries import sweep_store
from app.deliveries.sweep import SWEEP_JOB, sweep
from app.observability import metrics
from app.service import build_runtime, build_worker
from tests.fakes.github.routing import GitHubError
from tests.fakes.github.util import _iso
from tests.support.bot import WEBHOOK_SECRET, running_bot
from tests.support.flow import wait_until


class Gate:
    """A platform's proxy in front of the bot (Fly's, say): 502 while the bot
    is down, the bot's own answer once it is up."""

    def __init__(self) -> None:
        self.target: str | None = None
        self._session = aiohttp.ClientSession()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        if self.target is None:
            return web.Response(status=502, text="no machine answered")
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower().startswith("x-") or k.lower() in ("content-type", "user-agent")
        }
        async with self._session.post(self.target, data=body, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read())

    async def __aenter__(self) -> Gate:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        await self._session.close()


def counted(outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "codegen_bot_lost_deliveries_total", {"outcome": outcome}
    )
    return value or 0.0


async def jobs_per_guid(pool, guids: list[str]) -> dict[str, int]:
    rows = await pool.fetch(
        """SELECT payload->>'delivery_id' AS guid, count(*) AS n FROM jobs
           WHERE kind = 'delivery' AND payload->>'delivery_id' = ANY($1::text[])
           GROUP BY 1""",
        guids,
    )
    return {r["guid"]: r["n"] for r in rows}


async def all_finished(pool, guids: list[str]) -> bool:
    return await pool.fetchval(
        """SELECT count(*) = $2 FROM webhook_deliveries
           WHERE id = ANY($1::text[]) AND status = 'ignored'""",
        guids,
        len(guids),
    )


async def test_exactly_the_failed_unstored_deliveries_are_redelivered_once(
    app_settings, fake_github, example_payload
):
    settings = dataclasses.replace(app_settings, delivery_redeliver_interval=0.05)
    star = example_payload("star", "created")
    async with running_bot(settings) as bot, Gate() as gate:
        pool = bot.runtime.pool
        gate.target = bot.webhook_url
        ok = await fake_github.send_webhook(gate.url, "star", star, secret=WEBHOOK_SECRET)
        # Stored, but GitHub gave up waiting for the answer: not to be asked again.
        slow = await fake_github.send_webhook(gate.url, "star", star, secret=WEBHOOK_SECRET)
        slow.update(status_code=504, status="timed out")
        # Refused by the intake (a bad signature): a redelivery would be refused too.
        refused = await fake_github.send_webhook(gate.url, "star", star, secret="not-the-secret")
        gate.target = None  # the bot is down
        lost = [
            await fake_github.send_webhook(gate.url, "star", star, secret=WEBHOOK_SECRET)
            for _ in range(3)
        ]
        gate.target = bot.webhook_url
        assert ok["status_code"] == 202 and refused["status_code"] == 401
        assert {d["status_code"] for d in lost} == {502}
        found, redelivered = counted("found"), counted("redelivered")

        started = time.monotonic()
        result = await sweep(bot.runtime)
        took = time.monotonic() - started

        assert result is not None and (result.found, result.redelivered) == (3, 3)
        assert fake_github.redelivery_requests == [d["id"] for d in lost]  # oldest first
        assert took >= 2 * 0.05  # paced: one redelivery per interval
        guids = [d["guid"] for d in lost]
        await wait_until(lambda: all_finished(pool, guids))
        await bot.wait_idle()
        assert await jobs_per_guid(pool, guids) == dict.fromkeys(guids, 1)
        assert counted("found") - found == 3 and counted("redelivered") - redelivered == 3
        assert await sweep_store.position(pool) == lost[-1]["id"]

        # The redeliveries are in the log now, answered: nothing more to do.
        again = await sweep(bot.runtime)
        assert again is not None and (again.found, again.redelivered) == (0, 0)
        assert len(fake_github.redelivery_requests) == 3
        assert await sweep_store.position(pool) == max(d["id"] for d in fake_github.deliveries)
        assert await jobs_per_guid(pool, guids) == dict.fromkeys(guids, 1)


@pytest.fixture
async def runtime(app_settings, pool, dsn):
    """The App's runtime alone (no server, no worker), retrying GitHub errors little."""
    settings = dataclasses.replace(app_settings, delivery_redeliver_interval=0.0)
    async with aiohttp.ClientSession() as session:
        yield build_runtime(
            settings, pool, dsn, session, retry_options={"max_attempts": 1, "max_single_wait": 0}
        )


def log_failures(fake, n: int, *, every_other_ok: bool = False) -> list[dict]:
    failed = []
    for i in range(n):
        failed.append(fake.add_delivery(event="star", action="created", status_code=502))
        if every_other_ok and i % 2:
            fake.add_delivery(event="star", action="created", status_code=202)
    return failed


async def test_the_next_sweep_starts_where_the_last_one_ended(runtime, fake_github):
    failed = log_failures(fake_github, 130, every_other_ok=True)  # 195 entries, 2 pages
    result = await sweep(runtime)
    assert result is not None and result.found == 130 and result.redelivered == 130
    assert len(fake_github.calls("GET", r"^/app/hook/deliveries")) == 2
    assert sorted(fake_github.redelivery_requests) == [d["id"] for d in failed]
    position = await sweep_store.position(runtime.pool)
    assert position == failed[-1]["id"] + 1  # the last OK entry after it

    # The fake logs each redelivery as a new (answered) entry: 130 newer entries,
    # two pages, and the sweep stops at the position instead of reading on.
    new = log_failures(fake_github, 2)
    result = await sweep(runtime)
    assert result is not None and result.found == 2
    assert fake_github.redelivery_requests[-2:] == [d["id"] for d in new]
    assert len(fake_github.calls("GET", r"^/app/hook/deliveries")) == 4
    assert await sweep_store.position(runtime.pool) == new[-1]["id"]


async def test_a_github_error_mid_sweep_leaves_the_position_unchanged(runtime, fake_github):
    first = log_failures(fake_github, 3)
    assert (await sweep(runtime)).found == 3
    before = await sweep_store.position(runtime.pool)
    later = log_failures(fake_github, 150)
    asked = len(fake_github.redelivery_requests)

    def broken_second_page(ctx):
        if "cursor" in ctx.query:
            raise GitHubError(502, "Server Error")
        return fake_github._list_deliveries(ctx)

    route = fake_github.add_route("GET", "/app/hook/deliveries", broken_second_page)
    with pytest.raises(gidgethub.GitHubBroken):
        await sweep(runtime)
    assert await sweep_store.position(runtime.pool) == before
    assert len(fake_github.redelivery_requests) == asked  # nothing asked on half a log

    fake_github._extra_routes.remove(route)
    result = await sweep(runtime)
    assert result is not None and result.found == 150
    assert fake_github.redelivery_requests[asked:] == [d["id"] for d in later]
    assert first[-1]["id"] < await sweep_store.position(runtime.pool)


async def test_deliveries_older_than_githubs_log_are_not_asked_for(runtime, fake_github):
    old = fake_github.add_delivery(event="star", status_code=502)
    old["delivered_at"] = _iso(time.time() - 4 * 86400)
    recent = fake_github.add_delivery(event="star", status_code=502)
    result = await sweep(runtime)
    assert result is not None and result.found == 1
    assert fake_github.redelivery_requests == [recent["id"]]


async def test_after_an_hour_down_every_delivery_github_tried_is_processed_once(
    app_settings, fake_github, example_payload
):
    """The bot was down for an hour; GitHub's attempts all failed at the proxy.
    When it starts, the periodic sweep runs at start-up and each of them is
    processed once."""
    settings = dataclasses.replace(
        app_settings, delivery_sweep_seconds=600.0, delivery_redeliver_interval=0.0
    )
    star = example_payload("star", "created")
    async with Gate() as gate:
        tried = []
        for minute in range(0, 60, 3):  # 20 attempts over the hour
            delivery = await fake_github.send_webhook(
                gate.url, "star", star, secret=WEBHOOK_SECRET, guid=str(uuid.uuid4())
            )
            delivery["delivered_at"] = _iso(time.time() - 3600 + minute * 60)
            tried.append(delivery)
        assert {d["status_code"] for d in tried} == {502}
        # The web process starts first, then its worker (as `serve` does).
        async with running_bot(settings, worker=False) as bot:
            gate.target = bot.webhook_url
            worker = build_worker(bot.runtime)
            await worker.start()
            try:
                guids = [d["guid"] for d in tried]
                await wait_until(lambda: all_finished(bot.runtime.pool, guids))
                await bot.wait_idle()
                pool = bot.runtime.pool
                assert await jobs_per_guid(pool, guids) == dict.fromkeys(guids, 1)
                assert sorted(fake_github.redelivery_requests) == sorted(d["id"] for d in tried)
                # The sweep ran once, and its next occurrence waits for the next period.
                sweeps = await pool.fetch(
                    "SELECT status, run_at > now() AS later FROM jobs WHERE kind = $1 ORDER BY id",
                    SWEEP_JOB,
                )
                assert [(r["status"], r["later"]) for r in sweeps] == [
                    ("done", False),
                    ("queued", True),
                ]
            finally:
                await worker.stop(5)


def test_the_log_window_is_githubs_three_days():
    from app.deliveries.sweep import LOG_RETENTION, delivered_at

    assert LOG_RETENTION == timedelta(days=3)
    assert delivered_at({"delivered_at": "2026-11-30T15:00:00Z"}) == datetime(
        2026, 11, 30, 15, tzinfo=UTC
    )


async def test_one_sweep_at_a_time_by_lease_without_an_open_transaction(runtime, fake_github):
    """While a sweep paces its redeliveries, a second finds it busy, and no
    connection of ours sits in an open transaction (the sweep holds a lease on
    its row, not a row lock); a sweep whose process died frees the row by the
    lease running out."""
    runtime.settings = dataclasses.replace(runtime.settings, delivery_redeliver_interval=0.15)
    failed = log_failures(fake_github, 8)
    first = asyncio.create_task(sweep(runtime, lease_seconds=0.6))  # renewed as it goes
    idle_in_transaction = []
    await wait_until(lambda: fake_github.redelivery_requests or None)
    while not first.done():
        other = await sweep(runtime)
        assert other is None or first.done()  # busy while the lease is held (and renewed)
        idle_in_transaction += await runtime.pool.fetch(
            """SELECT query FROM pg_stat_activity
                WHERE datname = current_database() AND state = 'idle in transaction'"""
        )
        await asyncio.sleep(0.1)
    result = await first
    assert result is not None and result.redelivered == 8
    assert sorted(fake_github.redelivery_requests) == [d["id"] for d in failed]
    assert idle_in_transaction == []

    # A process that died mid-sweep: its lease runs out and the next sweep runs.
    assert await sweep_store.take(runtime.pool, "dead-process", 0.3) == result.position
    assert await sweep(runtime) is None
    await asyncio.sleep(0.4)
    later = log_failures(fake_github, 1)
    again = await sweep(runtime)
    assert again is not None and again.redelivered == 1
    assert fake_github.redelivery_requests[-1] == later[0]["id"]


async def test_a_failed_sweep_frees_its_lease_and_keeps_the_position(runtime, fake_github):
    log_failures(fake_github, 2)
    fake_github.fail_next("POST", r"/attempts$", 502)
    with pytest.raises(gidgethub.GitHubBroken):
        await sweep(runtime)
    assert await sweep_store.position(runtime.pool) is None
    fake_github.requests.clear()
    result = await sweep(runtime)  # not BUSY: the failed sweep gave the lease back
    assert result is not None and result.redelivered == 2


async def test_a_slow_log_read_counts_against_the_lease(runtime, fake_github):
    """The lease runs from its taking: a log read that takes most of it is
    followed by a renewal before the first redelivery, so no second sweep
    takes the row while the first still redelivers (each asked for once)."""
    runtime.settings = dataclasses.replace(runtime.settings, delivery_redeliver_interval=0.3)
    failed = log_failures(fake_github, 4)
    fake_github.delay_next("GET", r"^/app/hook/deliveries$", 1.2)  # 4/5 of the lease
    first = asyncio.create_task(sweep(runtime, lease_seconds=1.5))
    while not first.done():
        await asyncio.sleep(0.1)
        other = await sweep(runtime)
        assert other is None or first.done()  # busy while the first one works
    result = await first
    assert result is not None and result.redelivered == 4
    assert sorted(fake_github.redelivery_requests) == sorted(d["id"] for d in failed)
