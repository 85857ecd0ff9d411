"""Fixtures of the integration tests that act as several processes on one
database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from app.github.client import GitHubApp
from app.limits.writes import SharedWritePacing
from tests.fakes.keys import make_app_key
from tests.support.bot import APP_ID


@pytest.fixture
async def apps(dsn, fake_github) -> AsyncIterator:
    """`apps(interval, burst=1, hold=5.0)`: two GitHub Apps as two processes
    would have them, each pacing its writes with its own SharedWritePacing (its
    own lock connection); closed after the test."""
    made: list[GitHubApp] = []
    private_pem, _ = make_app_key()
    async with aiohttp.ClientSession() as session:

        def make(interval: float, burst: int = 1, hold: float = 5.0) -> tuple[GitHubApp, GitHubApp]:
            for _ in range(2):
                pacing = SharedWritePacing(dsn, interval=interval, burst=burst, hold_seconds=hold)
                made.append(
                    GitHubApp(
                        app_id=APP_ID,
                        private_key=private_pem.decode(),
                        api_url=fake_github.url,
                        session=session,
                        retry_options={"max_single_wait": 5.0, "max_retry_seconds": 20.0},
                        write_pacing=pacing,
                    )
                )
            return made[-2], made[-1]

        yield make
        for app in made:
            await app.aclose()
