"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database
per test cloned from a migrated template, and the bot's real server."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import itertools
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app import migrations
from app.config import Settings
from app.db import EmbeddedPostgres, create_pool, ensure_database
from tests.fakes.github import FakeGitHub
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID, APP_SLUG, WEBHOOK_SECRET, Bot, running_bot

pytest_plugins = ["tests.support.flow"]

DATA = Path(__file__).parent / "data"
TEMPLATE_DB = "codegen_bot_template"
_db_counter = itertools.count()


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
        # The lost-delivery sweep runs only in the tests that ask for it.
        delivery_sweep_seconds=0.0,
        retention_seconds=0.0,
        budget_check_seconds=0.0,  # the budget queue's periodic look, likewise
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


@pytest.fixture
async def bot(settings) -> AsyncIterator[Bot]:
    async with running_bot(settings) as running:
        yield running


@pytest.fixture
async def intake_only(settings) -> AsyncIterator[Bot]:
    """The web server with no worker, so stored jobs stay where they are."""
    async with running_bot(settings, worker=False) as running:
        yield running
