"""The bot under test: its real web server and worker in the test's event loop
(`running_bot`), and signed webhook deliveries to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from app.config import Settings
from app.db import create_pool
from app.queue.worker import Worker
from app.runtime import Runtime
from app.service import build_runtime, build_worker
from app.web.front import FrontSite
from app.web.intake import IntakeLoad
from app.web.server import INTAKE_KEY, INTAKE_LOAD_KEY, RUNNER_OPTIONS, make_web_app

WEBHOOK_SECRET = "test-webhook-secret"
APP_ID = 424242
APP_SLUG = "codegen-bot-test"


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(event: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body),
    }


@dataclasses.dataclass
class Bot:
    """The bot running in this test's event loop: real server, real worker."""

    url: str
    runtime: Runtime
    session: aiohttp.ClientSession
    worker: Worker | None
    intake_load: IntakeLoad | None = None  # what a worker in this process yields to
    runner: web.AppRunner | None = None  # for a test to open another site on it

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/github/webhooks"

    async def deliver(
        self, event: str, payload: dict[str, Any] | bytes, delivery: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        async with self.session.post(
            self.webhook_url, data=body, headers=delivery_headers(event, body, delivery)
        ) as response:
            return response.status, await response.json()

    async def wait_idle(self, timeout: float = 20.0) -> None:
        """Until no job is ready or running (scheduled retries excepted)."""
        pool = self.runtime.pool
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            busy = await pool.fetchval(
                """SELECT count(*) FROM jobs
                   WHERE status = 'running' OR (status = 'queued' AND run_at <= now())"""
            )
            if busy == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{busy} job(s) still pending")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, *, worker: bool = True) -> AsyncIterator[Bot]:
    pool = await create_pool(settings.database_url, min_size=2, max_size=12)
    session = aiohttp.ClientSession()
    runtime = build_runtime(
        settings,
        pool,
        settings.database_url,
        session,
        retry_options={"max_single_wait": 5.0, "max_retry_seconds": 15.0},
        codegen_options={"backoff_base": 0.05, "backoff_max": 0.2, "max_retry_seconds": 10.0},
    )
    runner = web.AppRunner(make_web_app(runtime), **RUNNER_OPTIONS)
    await runner.setup()
    # The web port as `serve` opens it: the front first, aiohttp behind it.
    site = FrontSite(
        runner,
        "127.0.0.1",
        0,
        intake=runner.app[INTAKE_KEY],
        grace=settings.shutdown_grace_seconds,
    )
    await site.start()
    port = site.port
    the_worker = None
    if worker:
        # Wired as `serve` wires it: the worker defers to this process's intake.
        the_worker = build_worker(runtime, yield_to=runner.app[INTAKE_LOAD_KEY])
        await the_worker.start()
    try:
        yield Bot(
            f"http://127.0.0.1:{port}",
            runtime,
            session,
            the_worker,
            runner.app[INTAKE_LOAD_KEY],
            runner,
        )
    finally:
        await runner.cleanup()
        if the_worker is not None:
            await the_worker.stop(settings.shutdown_grace_seconds)
        await runtime.codegen.aclose()
        await runtime.github.aclose()
        await session.close()
        await pool.close()
