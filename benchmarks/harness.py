"""What the end-to-end latency benchmarks share (task_latency.py,
validation_latency.py): a fresh embedded PostgreSQL with every migration
applied, the fake GitHub and fake Codegen on 127.0.0.1 (the tests' fakes), the
bot's Settings, signed deliveries posted at a steady rate, and the reading of
the fakes' records (percentiles, GitHub API calls by route).

    async with harness.environment("task-latency-") as env:
        names = env.add_repos(20)
        settings = env.settings(write_interval=1.0)
        async with running_bot(settings) as bot, aiohttp.ClientSession() as http:
            async for n in harness.paced(rate, total):
                when = await harness.deliver(http, bot, "issues", payload, f"bench-{n}")

Everything stays on loopback; the database and the fakes are stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.db import EmbeddedPostgres, ensure_database  # noqa: E402
from app.migrations import migrate  # noqa: E402
from tests.fakes.codegen import FakeCodegen  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.keys import make_app_key  # noqa: E402
from tests.support.bot import APP_ID, APP_SLUG, Bot, running_bot, sign  # noqa: E402

__all__ = ["Env", "api_calls", "deliver", "environment", "latency", "paced", "running_bot"]

SECRET = "bench"
DATABASE = "bench"
CODEGEN_KEY = "k"
CODEGEN_ORG = 7
FIRST_INSTALLATION = 1000


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency(values: list[float]) -> str:
    """`p50 X ms, p99 Y ms (n=N)` of values in milliseconds."""
    if not values:
        return "none (n=0)"
    return f"p50 {statistics.median(values):.0f} ms, p99 {pct(values, 99):.0f} ms (n={len(values)})"


@dataclasses.dataclass
class Env:
    """A fresh database and the two fakes, seeded by the caller."""

    tmp: Path
    dsn: str
    github: FakeGitHub
    codegen: FakeCodegen
    private_pem: bytes

    def add_repos(self, count: int, writer: str = "maintainer") -> list[str]:
        """`count` repositories, each in its own installation (ids from 1000), with a
        README, `writer` holding write permission, known to Codegen too."""
        names = [f"bench-org-{i}/app" for i in range(count)]
        for i, name in enumerate(names):
            self.github.add_installation(FIRST_INSTALLATION + i, account=name.split("/")[0])
            self.github.add_repo(name, installation_id=FIRST_INSTALLATION + i)
            self.github.set_file(name, "README.md", "# App\n")
            self.github.set_permission(name, writer, "write")
            self.codegen.add_repo(name)
        return names

    def settings(self, *, write_interval: float, **overrides: Any) -> Settings:
        """The bot against the fakes and this database: 10 concurrent workflows, a
        1 s job poll, agent runs polled after 1 s then every 2 s at most."""
        values: dict[str, Any] = {
            "github_app_id": APP_ID,
            "github_private_key": self.private_pem.decode(),
            "github_webhook_secret": SECRET,
            "github_api_url": self.github.url,
            "github_write_interval": write_interval,
            "database_url": self.dsn,
            "data_dir": self.tmp,
            "codegen_api_key": CODEGEN_KEY,
            "codegen_org_id": CODEGEN_ORG,
            "codegen_api_url": self.codegen.url,
            "max_concurrent_workflows": 10,
            "job_poll_seconds": 1.0,
            "run_poll_first_seconds": 1.0,
            "run_poll_max_seconds": 2.0,
        }
        values.update(overrides)
        return Settings(**values)


@contextlib.asynccontextmanager
async def environment(prefix: str) -> AsyncIterator[Env]:
    """Embedded PostgreSQL (initdb + migrations) in a new temporary directory, the
    fake GitHub (no content-creation or rate limit in the way) and the fake Codegen
    (no create limit in the way); all stopped and the directory removed on exit."""
    import asyncpg

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    pg = EmbeddedPostgres(tmp)
    await asyncio.to_thread(pg.start)
    github = codegen = None
    try:
        await ensure_database(pg.uri("postgres"), DATABASE)
        conn = await asyncpg.connect(pg.uri(DATABASE))
        try:
            await migrate(conn)
        finally:
            await conn.close()
        private_pem, public_pem = make_app_key()
        github = FakeGitHub(
            app_id=APP_ID,
            public_key_pem=public_pem,
            app_slug=APP_SLUG,
            content_creation_per_minute=10_000,
            rate_limit=1_000_000,
        )
        await github.start()
        codegen = FakeCodegen(
            api_key=CODEGEN_KEY,
            org_id=CODEGEN_ORG,
            creates_per_window=10_000,
            standard_per_window=100_000,
        )
        await codegen.start()
        yield Env(tmp, pg.uri(DATABASE), github, codegen, private_pem)
    finally:
        if github is not None:
            await github.close()
        if codegen is not None:
            await codegen.close()
        await asyncio.to_thread(pg.stop)
        shutil.rmtree(tmp, ignore_errors=True)


async def paced(rate: float, total: int) -> AsyncIterator[int]:
    """0 .. total-1, the n-th at start + n / rate (a late one does not shift the rest)."""
    started = time.monotonic()
    for n in range(total):
        yield n
        await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))


async def deliver(
    http: aiohttp.ClientSession, bot: Bot, event: str, payload: dict[str, Any], delivery: str
) -> float:
    """POST a signed delivery; asserts the 202 and returns when it came (epoch seconds,
    the fakes' clock)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET),
    }
    async with http.post(bot.webhook_url, data=body, headers=headers) as r:
        assert r.status == 202, await r.text()
    return time.time()


async def wait_count(pool: Any, query: str, total: int, seconds: float) -> int:
    """Poll `query` (a count) until it reaches `total` or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await pool.fetchval(query) >= total:
            break
        await asyncio.sleep(0.2)
    return await pool.fetchval(query)


def api_calls(github: FakeGitHub) -> tuple[Counter[str], int]:
    """GitHub API calls made with an installation token, as `METHOD route` counts, and
    the number of App-JWT calls (`/app...`: token minting, the App's slug)."""
    calls = Counter(
        f"{r.method} {r.route}" for r in github.requests if r.route and r.route[:4] != "/app"
    )
    app_calls = sum(1 for r in github.requests if r.route and r.route.startswith("/app"))
    return calls, app_calls


def print_calls(calls: Counter[str], per: int, app_calls: int) -> None:
    """One line a route, its count divided by `per`, most frequent first; then the
    App-JWT calls in total."""
    for route, count in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"  {count / max(1, per):5.2f}  {route}")
    print(f"App-JWT calls in total (token minting, slug): {app_calls}")


def arguments(doc: str, unit: str, rate: float) -> argparse.ArgumentParser:
    """--rate (`unit` per second), --seconds, --repos and --write-interval."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=rate, help=f"{unit} per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument(
        "--write-interval",
        type=float,
        default=1.0,
        help="GITHUB_WRITE_INTERVAL (the bot's default is 1.0)",
    )
    return parser


class LogTally(logging.Handler):
    """Counts the bot's WARNING and ERROR records and keeps the first few lines."""

    def __init__(self, keep: int = 20) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.lines: list[str] = []
        self.keep = keep
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1
        if len(self.lines) < self.keep:
            self.lines.append(self.format(record).splitlines()[0])


@contextlib.contextmanager
def bot_log() -> Iterator[LogTally]:
    """Tally the bot's warnings and errors while they also go to stderr (a root
    handler turns off logging's last-resort stderr output, so one is added)."""
    tally, stderr = LogTally(), logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(tally)
    root.addHandler(stderr)
    try:
        yield tally
    finally:
        root.removeHandler(tally)
        root.removeHandler(stderr)
