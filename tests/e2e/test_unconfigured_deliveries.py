"""A delivery the bot cannot act on because the GitHub App is not configured:
its job ends dead at once, said in one log line without a traceback (a
setting is missing, not a bug; every delivery hits it until the App is set
up), counted as dead, and the delivery stays stored as received."""

from __future__ import annotations

import json
import logging
import uuid

from app.deliveries import store as deliveries
from app.observability import metrics
from tests.support.flow import wait_until


async def test_unconfigured_app_kills_the_job_in_one_plain_line(bot, example_payload, caplog):
    payload = {**example_payload("issues", "labeled"), "installation": {"id": 77}}
    body = json.dumps(payload).encode()
    dead = metrics.JOBS.labels(kind="delivery", outcome="dead")
    dead_before = dead._value.get()
    guid = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="app.queue.worker"):
        status, _ = await bot.deliver("issues", body, delivery=guid)
        assert status == 202
        pool = bot.runtime.pool
        job = await wait_until(
            lambda: pool.fetchrow(
                """SELECT status, attempts, last_error FROM jobs
                   WHERE payload->>'delivery_id' = $1 AND status = 'dead'""",
                guid,
            )
        )
        await bot.wait_idle()
    assert job["attempts"] == 1  # not retried: retrying cannot configure the App
    assert job["last_error"] == (
        "app.queue.worker.PermanentJobError: GitHub App is not configured "
        "(GITHUB_APP_ID, GITHUB_PRIVATE_KEY); cannot act on issues.labeled"
    )
    failures = [r for r in caplog.records if "failed -> dead" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert not failures[0].exc_info
    assert "GitHub App is not configured" in failures[0].getMessage()
    assert dead._value.get() - dead_before == 1
    stored = await deliveries.get(pool, guid)
    assert stored is not None and stored.payload == body


async def test_a_failing_job_keeps_its_traceback(pool, dsn, caplog):
    """Any other permanent error still keeps its traceback, in the row and the log."""
    from app.queue import store as jobs
    from app.queue.worker import PermanentJobError, Worker

    async def broken(_job):
        raise PermanentJobError("broken for good")

    job_id = await jobs.enqueue(pool, "broken", {})
    worker = Worker(pool, dsn, {"broken": broken}, poll_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="app.queue.worker"):
        await worker.start()
        try:
            error = await wait_until(
                lambda: pool.fetchval(
                    "SELECT last_error FROM jobs WHERE id = $1 AND status = 'dead'", job_id
                )
            )
        finally:
            await worker.stop(1)
    assert error.startswith("app.queue.worker.PermanentJobError: broken for good\n\n")
    assert "Traceback" in error
    failures = [r for r in caplog.records if "failed -> dead" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
