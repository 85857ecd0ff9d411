"""SIGTERM under load, to real `codegen-bot serve` processes: a web process
stopped while deliveries pour in never acknowledges one it then loses, and a
worker stopped mid-job either finishes the job within its grace period or hands
it back for another worker, which does it once in effect."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.support.flow import REPO, WRITER, labeled_event, wait_until
from tests.support.processes import Fleet, busy_jobs, delivery, env_for, post_deliveries

TRACKING_MARK = "codegen-bot:task:"


async def fetchval(dsn: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def fetchrow(dsn: str, query: str, *args: object) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def idle(dsn: str) -> bool:
    return await busy_jobs(dsn) == 0


async def fetchrows(dsn: str, query: str) -> list[dict]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def test_sigterm_to_a_web_process_loses_no_acknowledged_delivery(
    dsn, fake_github, example_payload, tmp_path
):
    """Two web processes share the deliveries; one is stopped while they are
    being posted. Whatever it answered 2xx is stored with its job; the rest got
    a connection error or a 503 (GitHub redelivers those), never a 2xx and then
    nothing."""
    payload = example_payload("issues", "opened")
    deliveries = [delivery(str(uuid.uuid4()), "issues", payload) for _ in range(3000)]
    async with Fleet(env_for(dsn, fake_github.url), tmp_path) as fleet:
        await fleet.start(webs=2)  # no worker: every stored job stays where it is
        stopped = fleet.webs[0]
        posting = asyncio.create_task(post_deliveries(fleet.web_urls, deliveries))
        await wait_until(
            lambda: fetchval(dsn, "SELECT count(*) >= 500 FROM webhook_deliveries"), timeout=60
        )
        code = await fleet.terminate(stopped)
        outcomes = await posting
        logs = fleet.logs()
    assert code == 0, logs

    to_stopped = [o for o in outcomes if o.url == stopped.webhook_url]
    acknowledged = [o for o in to_stopped if o.acknowledged]
    refused = [o for o in to_stopped if not o.acknowledged]
    assert acknowledged and refused, "the stop did not fall in the middle of the posting"
    assert {o.status for o in acknowledged} == {202}
    assert all(o.error is not None or o.status == 503 for o in refused), {
        (o.status, o.error) for o in refused if o.error is None and o.status != 503
    }
    # The other web process took every delivery sent to it.
    assert all(o.acknowledged for o in outcomes if o.url != stopped.webhook_url)

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT d.id, count(j.id) AS jobs FROM webhook_deliveries d
               LEFT JOIN jobs j ON j.kind = 'delivery' AND j.payload->>'delivery_id' = d.id
               GROUP BY d.id"""
        )
    finally:
        await conn.close()
    stored = {r["id"]: r["jobs"] for r in rows}
    lost = [o.delivery.guid for o in outcomes if o.acknowledged and o.delivery.guid not in stored]
    assert lost == []
    assert {guid: n for guid, n in stored.items() if n != 1} == {}


@pytest.mark.parametrize(
    ("hold", "grace", "finisher"),
    [
        pytest.param(1.5, 10.0, "stopped", id="finishes-within-the-grace-period"),
        pytest.param(6.0, 1.0, "other", id="goes-back-to-the-queue"),
    ],
)
async def test_sigterm_to_a_worker_mid_job(
    hold, grace, finisher, dsn, seeded, fake_codegen, example_payload, tmp_path
):
    """The job handling the label is held mid-way (GitHub takes `hold` seconds
    to answer its read of the sender's permission; the tracking comment is
    written beside the jobs, app/tasks/feedback.py) when its worker gets
    SIGTERM with `grace` seconds to finish: within the grace period the job
    finishes there; past it, the job is cancelled, goes back to the queue and
    the other worker does it. Either way the issue gets one tracking comment
    and one agent run, and the stopped worker exits 0."""
    seeded.delay_next("GET", rf"^/repos/{REPO}/collaborators/{WRITER}/permission$", hold)
    env = env_for(
        dsn,
        seeded.url,
        fake_codegen.url,
        SHUTDOWN_GRACE_SECONDS=str(grace),
        RUN_POLL_FIRST_SECONDS="3600",
        RUN_POLL_MAX_SECONDS="3600",
    )
    async with Fleet(env, tmp_path) as fleet:
        await fleet.start(webs=1, workers=2)
        [outcome] = await post_deliveries(
            fleet.web_urls,
            [delivery(str(uuid.uuid4()), "issues", labeled_event(seeded, example_payload, WRITER))],
        )
        assert outcome.status == 202
        await wait_until(lambda: seeded.calls("GET", r"/permission$"), timeout=30)
        held = await fetchrow(
            dsn,
            """SELECT id, kind, lease_owner FROM jobs WHERE status = 'running'
                 AND (dedup_key IS NULL OR dedup_key NOT LIKE 'periodic:%') ORDER BY id""",
        )
        assert held is not None, fleet.logs()
        [holder] = [m for m in fleet.workers if f":{m.pid}:" in held["lease_owner"]]
        other = next(m for m in fleet.workers if m is not holder)
        started = time.monotonic()
        code = await fleet.terminate(holder)
        exited_at = datetime.now(UTC)
        stop_seconds = time.monotonic() - started
        try:
            await wait_until(lambda: fake_codegen.created, timeout=30)
        except TimeoutError:
            jobs = await fetchrows(dsn, "SELECT id, kind, status, run_at, last_error FROM jobs")
            raise AssertionError(f"no agent run: {jobs}\n{fleet.logs()}") from None
        await wait_until(lambda: idle(dsn), timeout=30)
        await asyncio.sleep(0.5)  # anything done twice would show by now
        logs = {m.name: m.log.read_text() for m in (holder, other)}
    assert code == 0, logs[holder.name]
    assert stop_seconds < grace + 5, stop_seconds
    # Who finished the held job: the stopped worker before it exited, or, once
    # it was handed back, the only worker left.
    released = "released 1 unfinished job(s)" in logs[holder.name]
    row = await fetchrow(dsn, "SELECT status, finished_at FROM jobs WHERE id = $1", held["id"])
    assert row["status"] == "done", (held["kind"], row["status"])
    if finisher == "stopped":
        assert not released and row["finished_at"] < exited_at, (held["kind"], row, exited_at)
    else:
        assert released and row["finished_at"] > exited_at, (held["kind"], row, exited_at)
    tracking = [
        c
        for c in seeded.comments_on(REPO, 7)
        if c["user"]["type"] == "Bot" and TRACKING_MARK in c["body"]
    ]
    assert len(tracking) == 1, [c["body"][:80] for c in tracking]
    assert len(fake_codegen.created) == 1
    dead = await fetchval(dsn, "SELECT count(*) FROM jobs WHERE status = 'dead'")
    assert dead == 0
