"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database
per test cloned from a migrated template, and the bot's real server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import hashlib
import hmac
import itertools
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from app import migrations
from app.config import Settings
from app.db import EmbeddedPostgres, create_pool, ensure_database
from app.queue.worker import Worker
from app.runtime import Runtime
from app.service import build_runtime, build_worker
from app.web.server import RUNNER_OPTIONS, make_web_app
from tests.fakes.github import FakeGitHub
from tests.fakes.keys import make_app_key

pytest_plugins = ["tests.flow_fixtures"]

DATA = Path(__file__).parent / "data"
TEMPLATE_DB = "codegen_bot_template"
WEBHOOK_SECRET = "test-webhook-secret"
APP_ID = 424242
APP_SLUG = "codegen-bot-test"
_db_counter = itertools.count()


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


@pytest.fixture(scope="session")
def webhook_examples() -> list[dict[str, Any]]:
    """@octokit/webhooks-examples 7.6.1, api.github.com/index.json (see tests/data/README.md)."""
    with gzip.open(DATA / "webhooks-examples-7.6.1.json.gz") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def example_payload(webhook_examples):
    """First example of `event` (optionally with `action`), as a fresh dict."""

    def find(event: str, action: str | None = None) -> dict[str, Any]:
        for group in webhook_examples:
            if group["name"] != event:
                continue
            for example in group["examples"]:
                if action is None or example.get("action") == action:
                    return json.loads(json.dumps(example))
        raise LookupError(f"no example for {event}.{action}")

    return find


@pytest.fixture(scope="session")
async def postgres(tmp_path_factory) -> AsyncIterator[EmbeddedPostgres]:
    """The embedded server and a template database with every migration applied."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    await asyncio.to_thread(server.start)
    await ensure_database(server.uri("postgres"), TEMPLATE_DB)
    conn = await asyncpg.connect(server.uri(TEMPLATE_DB))
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()
    yield server
    await asyncio.to_thread(server.stop)


@pytest.fixture
async def dsn(postgres) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    admin = await asyncpg.connect(postgres.uri("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    yield postgres.uri(name)
    admin = await asyncpg.connect(postgres.uri("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(dsn) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn, min_size=1, max_size=12)
    yield pool
    await pool.close()


@pytest.fixture
def settings(dsn, tmp_path) -> Settings:
    return Settings(
        github_webhook_secret=WEBHOOK_SECRET,
        database_url=dsn,
        data_dir=tmp_path,
        github_write_interval=0.0,
        job_poll_seconds=0.5,
        job_lease_seconds=5.0,
        job_retry_base_seconds=0.05,
        shutdown_grace_seconds=5.0,
    )


@pytest.fixture
async def fake_github() -> AsyncIterator[FakeGitHub]:
    """GitHub as a real HTTP server on 127.0.0.1 holding the App's public key."""
    _, public_pem = make_app_key()
    fake = FakeGitHub(app_id=APP_ID, public_key_pem=public_pem, app_slug=APP_SLUG)
    await fake.start()
    yield fake
    await fake.close()
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def app_settings(settings, fake_github) -> Settings:
    """Settings of a configured App talking to the fake GitHub."""
    private_pem, _ = make_app_key()
    return dataclasses.replace(
        settings,
        github_app_id=APP_ID,
        github_private_key=private_pem.decode(),
        github_api_url=fake_github.url,
    )


@pytest.fixture
async def app_bot(app_settings) -> AsyncIterator[Bot]:
    async with running_bot(app_settings) as running:
        yield running


@dataclasses.dataclass
class Bot:
    """The bot running in this test's event loop: real server, real worker."""

    url: str
    runtime: Runtime
    session: aiohttp.ClientSession
    worker: Worker | None

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
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    the_worker = None
    if worker:
        the_worker = build_worker(runtime)
        await the_worker.start()
    try:
        yield Bot(f"http://127.0.0.1:{port}", runtime, session, the_worker)
    finally:
        await runner.cleanup()
        if the_worker is not None:
            await the_worker.stop(settings.shutdown_grace_seconds)
        await runtime.codegen.aclose()
        await session.close()
        await pool.close()


@pytest.fixture
async def bot(settings) -> AsyncIterator[Bot]:
    async with running_bot(settings) as running:
        yield running


@pytest.fixture
async def intake_only(settings) -> AsyncIterator[Bot]:
    """The web server with no worker, so stored jobs stay where they are."""
    async with running_bot(settings, worker=False) as running:
        yield running
