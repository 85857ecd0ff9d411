"""Several `codegen-bot serve` processes on one database, as an operator runs
them past one machine: N `--role web` and M `--role worker` real subprocesses
against the test's PostgreSQL and the fakes of GitHub and Codegen running in the
test's own process.

    async with Fleet(env_for(dsn, fake_github, fake_codegen), tmp_path) as fleet:
        await fleet.start(webs=2, workers=2)
        outcomes = await post_deliveries(fleet.web_urls, deliveries)
        await fleet.kill(fleet.workers[0])           # SIGKILL: no clean-up at all
        await fleet.terminate(fleet.webs[0])         # SIGTERM: the graceful stop

Each process logs to its own file under the fleet's directory (a pipe nobody
reads would block it once full); `Fleet.logs()` gives them to a failing test.
Leaving the block stops what is still running: SIGTERM, then SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.support.bot import delivery_headers
from tests.support.serve import free_port, serve_env, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
ORG_ID = 7
CODEGEN_KEY = "cg-test-key"
TEMPLATE_DB = "codegen_bot_template"  # the migrated template tests/conftest.py makes
_databases = itertools.count()


@dataclasses.dataclass
class Member:
    """One `serve` process of the fleet."""

    role: str
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/github/webhooks"

    @property
    def running(self) -> bool:
        return self.process.returncode is None


def env_for(
    dsn: str, github_url: str, codegen_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment every member shares: the database, the fakes, and short
    intervals so a test sees in seconds what takes minutes in production. The
    port is each member's own (`Fleet.start_one` sets it)."""
    env = serve_env(
        dsn,
        github_url,
        0,
        LOG_LEVEL="INFO",
        JOB_POLL_SECONDS="0.5",
        JOB_LEASE_SECONDS="4",
        JOB_RETRY_BASE_SECONDS="0.2",
        SHUTDOWN_GRACE_SECONDS="5",
        # The sweep and retention run only where a test asks for them.
        DELIVERY_SWEEP_SECONDS="0",
        RETENTION_SECONDS="0",
        HOST="127.0.0.1",
    )
    if codegen_url is not None:
        env.update(
            CODEGEN_API_KEY=CODEGEN_KEY,
            CODEGEN_ORG_ID=str(ORG_ID),
            CODEGEN_API_URL=codegen_url,
        )
    env.pop("PORT", None)
    env.update(extra)
    return env


class Fleet:
    """Start, stop and kill `serve` processes sharing one environment."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.members: list[Member] = []
        self._count = 0

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_all()

    @property
    def webs(self) -> list[Member]:
        return [m for m in self.members if m.role == "web" and m.running]

    @property
    def workers(self) -> list[Member]:
        return [m for m in self.members if m.role == "worker" and m.running]

    @property
    def web_urls(self) -> list[str]:
        return [m.webhook_url for m in self.webs]

    async def start(self, *, webs: int = 0, workers: int = 0) -> list[Member]:
        """Start them all at once and wait until each answers /health."""
        roles = ["web"] * webs + ["worker"] * workers
        return list(await asyncio.gather(*(self.start_one(role) for role in roles)))

    async def start_one(self, role: str, **extra_env: str) -> Member:
        self._count += 1
        name = f"{role}-{self._count}"
        port = free_port()
        log = self.log_dir / f"{name}.log"
        env = {**self.env, "PORT": str(port), **extra_env}
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app",
                "serve",
                "--role",
                role,
                cwd=self.log_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        member = Member(role, name, port, process, log)
        self.members.append(member)
        try:
            await wait_healthy(port, timeout=60.0)
        except TimeoutError:
            raise TimeoutError(f"{name} never became healthy:\n{self.tail(member)}") from None
        return member

    async def kill(self, member: Member) -> int:
        """SIGKILL: what a crash or the OOM killer does; nothing runs after it."""
        if member.running:
            member.process.send_signal(signal.SIGKILL)
        return await member.process.wait()

    async def terminate(self, member: Member, timeout: float = 30.0) -> int:
        """SIGTERM, as a platform stops a machine; SIGKILL if it outlives `timeout`."""
        if member.running:
            member.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(member.process.wait(), timeout)
        except TimeoutError:
            return await self.kill(member)

    async def stop_all(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(self.terminate(m, timeout) for m in self.members if m.running))

    def tail(self, member: Member, lines: int = 40) -> str:
        try:
            text = member.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self, lines: int = 40) -> str:
        """The end of every member's log, for an assertion's message."""
        return "\n".join(f"--- {m.name} (pid {m.pid})\n{self.tail(m, lines)}" for m in self.members)

    def errors(self) -> list[str]:
        """Log lines of every member at ERROR or worse (a traceback's first line)."""
        found = []
        for member in self.members:
            try:
                text = member.log.read_text(errors="replace")
            except OSError:
                continue
            found += [f"{member.name}: {line}" for line in text.splitlines() if " ERROR " in line]
        return found


@contextlib.asynccontextmanager
async def scratch_database(postgres: Any) -> AsyncIterator[str]:
    """A fresh migrated database on the session's server, for a fixture wider
    than one test (the `dsn` fixture is per test); dropped afterwards."""
    name = f"fleet_{os.getpid()}_{next(_databases)}"
    admin = await asyncpg.connect(postgres.uri("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    try:
        yield postgres.uri(name)
    finally:
        admin = await asyncpg.connect(postgres.uri("postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def busy_jobs(dsn: str, horizon_seconds: float = 600.0) -> int:
    """Jobs running, or queued to run within `horizon_seconds`: the work still
    to do. Periodic jobs (the sweep, retention, the budget check) always have
    their next occurrence queued and are left out."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM jobs
                   WHERE (status = 'running'
                          OR (status = 'queued' AND run_at < now() + make_interval(secs => $1)))
                     AND (dedup_key IS NULL OR dedup_key NOT LIKE 'periodic:%')""",
                horizon_seconds,
            )
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------- deliveries


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One signed webhook delivery to post: its GUID, event and exact body."""

    guid: str
    event: str
    body: bytes


@dataclasses.dataclass
class Outcome:
    """What posting one delivery got: an HTTP status, or the connection error."""

    delivery: Delivery
    url: str
    status: int | None = None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def delivery(guid: str, event: str, payload: dict[str, Any] | bytes) -> Delivery:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Delivery(guid, event, body)


async def post_deliveries(
    urls: Sequence[str] | Iterable[str],
    deliveries: Sequence[Delivery],
    *,
    concurrency: int = 32,
    timeout: float = 30.0,
) -> list[Outcome]:
    """Post every delivery once, spread round-robin over `urls` (the web
    processes, as a load balancer would), `concurrency` at a time. Never raises
    for a refused or broken request: each one's outcome says what happened."""
    targets = list(urls)
    outcomes = [Outcome(d, targets[i % len(targets)]) for i, d in enumerate(deliveries)]
    queue: asyncio.Queue[Outcome] = asyncio.Queue()
    for outcome in outcomes:
        queue.put_nowait(outcome)
    connector = aiohttp.TCPConnector(limit=concurrency)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def post_one(outcome: Outcome) -> None:
            d = outcome.delivery
            try:
                async with session.post(
                    outcome.url, data=d.body, headers=delivery_headers(d.event, d.body, d.guid)
                ) as response:
                    await response.read()
                    outcome.status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome.error = f"{exc.__class__.__name__}: {exc}"

        async def drain() -> None:
            while not queue.empty():
                await post_one(queue.get_nowait())

        await asyncio.gather(*(drain() for _ in range(concurrency)))
    return outcomes


def rss_kib(pid: int) -> int | None:
    """VmRSS of a live process in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def scaled_limits(creates: int, window: float, write_interval: float) -> dict[str, str]:
    """Settings that scale the Codegen create limit and GitHub's write spacing
    down from a minute and a second, so a test sees many windows in seconds."""
    return {
        "CODEGEN_CREATES_PER_MINUTE": str(creates),
        "CODEGEN_CREATE_WINDOW_SECONDS": str(window),
        "GITHUB_WRITE_INTERVAL": str(write_interval),
    }


def creates_asked_in(requests: Iterable[Any], seconds: float) -> int:
    """The most agent-run creates the fake Codegen received (whatever it
    answered, a 429 included) within any `seconds`: what the bot asked for, not
    only what the API let through."""
    times = sorted(
        r.started_at for r in requests if r.method == "POST" and r.path.endswith("/agent/run")
    )
    most = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


__all__ = [
    "Delivery",
    "Fleet",
    "Member",
    "Outcome",
    "busy_jobs",
    "creates_asked_in",
    "delivery",
    "env_for",
    "post_deliveries",
    "rss_kib",
    "scaled_limits",
    "scratch_database",
]
