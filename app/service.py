"""Starting and stopping the whole service: database, migrations, web, worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

import handlers
from app import cpu, migrations
from app.budgets import jobs as budget_jobs
from app.codegen.client import CodegenClient
from app.codegen.protocol import Codegen
from app.codegen.simulated import SimulatedCodegen
from app.config import ConfigError, Settings
from app.db import (
    EMBEDDED_DB_NAME,
    EmbeddedPostgres,
    create_pool,
    embedded_available,
    ensure_database,
)
from app.deliveries import sweep as delivery_sweep
from app.deliveries.dispatch import delivery_jobs
from app.followups import flow as followup_flow
from app.followups import reviews as review_feedback
from app.github.client import GitHubApp
from app.limits.creates import SharedWindow, create_window_key
from app.limits.writes import SharedWritePacing
from app.observability.logs import redactor
from app.onboarding.proxy import WebhookProxy
from app.pull_requests import corrections as pr_corrections
from app.queue.registry import JobRegistry
from app.queue.worker import Busy, Worker
from app.repo_settings import labels
from app.retention import jobs as retention
from app.runtime import Runtime
from app.tasks import advance, polling, reporting, stopping
from app.validation import ci_fix, link, merge
from app.validation import run as validation_run
from app.web.front import FrontSite
from app.web.server import (
    INTAKE_KEY,
    INTAKE_LOAD_KEY,
    RUNNER_OPTIONS,
    WEBHOOK_PATH,
    make_health_app,
    make_web_app,
)

log = logging.getLogger(__name__)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redactor.scrub(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _before_send(event: Any, _hint: Any) -> Any:
    """Sentry gets what the logs get: known secrets and token shapes scrubbed."""
    return _scrub(event)


def init_sentry(settings: Settings) -> bool:
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.aiohttp import AioHttpIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        integrations=[AioHttpIntegration()],
        send_default_pii=False,
        include_local_variables=False,  # locals can hold tokens
        traces_sample_rate=0.0,
        before_send=_before_send,
    )
    return True


# What an install without the embedded server (the Docker image) says when it
# has no database to use.
NO_DATABASE = (
    "is not set, and this install has no embedded PostgreSQL (that is for `make run` "
    "and the tests). Set DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DBNAME: "
    "`docker run -e DATABASE_URL=...`, or on Fly `fly postgres attach`, which sets it "
    "as a secret."
)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[str]:
    """Yield a DSN: the configured one, or an embedded server's for the process's life."""
    if settings.database_url:
        yield settings.database_url
        return
    if not embedded_available():
        raise ConfigError("DATABASE_URL", NO_DATABASE)
    embedded = EmbeddedPostgres(settings.data_dir)
    log.info("DATABASE_URL not set: starting embedded PostgreSQL in %s", embedded.data_dir)
    await asyncio.to_thread(embedded.start)
    try:
        await ensure_database(embedded.uri("postgres"), EMBEDDED_DB_NAME)
        yield embedded.uri(EMBEDDED_DB_NAME)
    finally:
        await asyncio.to_thread(embedded.stop)
        log.info("embedded PostgreSQL stopped")


async def run_migrations(settings: Settings) -> list[str]:
    async with database(settings) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await migrations.migrate(conn)
        finally:
            await pool.close()


def build_runtime(
    settings: Settings,
    pool: asyncpg.Pool,
    dsn: str,
    session: aiohttp.ClientSession,
    *,
    retry_options: dict[str, Any] | None = None,
    codegen_options: dict[str, Any] | None = None,
) -> Runtime:
    github = GitHubApp(
        app_id=settings.github_app_id,
        private_key=settings.github_private_key,
        api_url=settings.github_api_url,
        session=session,
        app_slug=settings.github_app_slug,
        write_interval=settings.github_write_interval,
        retry_options=retry_options,
        # Serial, spaced writes per installation across every process (app/limits).
        write_pacing=SharedWritePacing(
            dsn,
            interval=settings.github_write_interval,
            burst=settings.github_write_burst,
            hold_seconds=settings.github_write_hold_seconds,
        ),
    )
    if settings.codegen_simulated:
        # Its runs are rows in this database: any process on it can poll them.
        codegen: Codegen = SimulatedCodegen(pool, org_id=settings.codegen_org_id or 0)
    else:
        assert settings.codegen_api_key is not None and settings.codegen_org_id is not None
        options: dict[str, Any] = {
            # The organization's create limit, counted across every process.
            "create_limiter": SharedWindow(
                pool,
                create_window_key(settings.codegen_org_id),
                limit=settings.codegen_creates_per_minute,
                window=settings.codegen_create_window_seconds,
            ),
            **(codegen_options or {}),
        }
        codegen = CodegenClient(
            api_url=settings.codegen_api_url,
            api_key=settings.codegen_api_key,
            org_id=settings.codegen_org_id,
            **options,
        )
    return Runtime(
        settings=settings,
        pool=pool,
        dsn=dsn,
        github=github,
        codegen=codegen,
        codegen_simulated=settings.codegen_simulated,
    )


def loopback_intake_url(host: str, port: int) -> str:
    """Where the webhook proxy reaches this process's own intake."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard; loopback is on it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{WEBHOOK_PATH}"


def job_kinds() -> JobRegistry:
    """Every job kind this process can run: the one place the domains' job
    registries are joined (a kind declared twice fails here, at start-up)."""
    return JobRegistry(
        delivery_jobs(handlers.router),
        labels.registry,
        advance.registry,
        polling.registry,
        stopping.registry,
        reporting.registry,
        validation_run.registry,
        ci_fix.registry,
        merge.registry,
        link.registry,
        pr_corrections.registry,
        followup_flow.registry,
        retention.registry,
        delivery_sweep.registry,
        budget_jobs.registry,
        review_feedback.registry,
    )


def build_worker(runtime: Runtime, *, yield_to: Busy | None = None) -> Worker:
    """The worker; `yield_to`: the intake of this process, which it defers to."""
    settings = runtime.settings
    kinds = job_kinds()
    run, on_dead = kinds.bind(runtime)
    return Worker(
        runtime.pool,
        runtime.dsn,
        run,
        concurrency=settings.max_concurrent_workflows,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        retry_base_seconds=settings.job_retry_base_seconds,
        on_dead=on_dead,
        schedules=kinds.schedules(settings),
        yield_to=yield_to,
    )


async def serve(settings: Settings, *, role: str = "all", port: int | None = None) -> None:
    """Run until SIGTERM/SIGINT, then stop in order: web, worker, connections."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if not settings.github_app_configured:
        log.warning(
            "GitHub App not configured (GITHUB_APP_ID, GITHUB_PRIVATE_KEY): the bot "
            "will store deliveries but cannot act on them"
        )
    if not settings.github_webhook_secret:
        log.warning("GITHUB_WEBHOOK_SECRET not set: webhook deliveries will be refused")
    if settings.codegen_simulated:
        log.warning(
            "Codegen is simulated (CODEGEN_ENABLE_MOCK_MODE or no CODEGEN_API_KEY): "
            "no real agent runs will be made"
        )

    web_port = port or settings.port
    health_port = settings.metrics_port or web_port
    async with database(settings) as dsn:
        # A job may hold a connection for an advisory lock (a PR's, an issue's)
        # while it queries on another: two a job, plus the worker's own and the web's.
        pool_size = max(10, 2 * settings.max_concurrent_workflows + 6)
        pool = await create_pool(dsn, min_size=2, max_size=pool_size)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        runner: web.AppRunner | None = None
        health_runner: web.AppRunner | None = None
        worker: Worker | None = None
        runtime: Runtime | None = None
        proxy: WebhookProxy | None = None
        if settings.webhook_proxy_url and role in ("web", "all"):
            proxy = WebhookProxy(settings.webhook_proxy_url)
        elif settings.webhook_proxy_url:
            log.warning("WEBHOOK_PROXY_URL is ignored by a worker: run it with a web role")
        try:
            async with pool.acquire() as conn:
                applied = await migrations.migrate(conn)
            if applied:
                log.info("applied %d migration(s)", len(applied))
            runtime = build_runtime(settings, pool, dsn, session)
            if role in ("web", "all"):
                runner = web.AppRunner(
                    make_web_app(runtime, proxy=proxy),
                    **RUNNER_OPTIONS,
                    shutdown_timeout=settings.shutdown_grace_seconds,
                )
                await runner.setup()
                site = FrontSite(
                    runner,
                    settings.host,
                    web_port,
                    intake=runner.app[INTAKE_KEY],
                    grace=settings.shutdown_grace_seconds,
                )
                await site.start()
                log.info("listening on http://%s:%d", settings.host, web_port)
                if proxy is not None:
                    await proxy.start(loopback_intake_url(settings.host, web_port))
            if health_port != web_port or role == "worker":
                # The platform's health check and metrics scrape reach every
                # process, a worker's too, on one port.
                health_runner = web.AppRunner(make_health_app(runtime), **RUNNER_OPTIONS)
                await health_runner.setup()
                await web.TCPSite(health_runner, settings.host, health_port).start()
                log.info("health and metrics on http://%s:%d", settings.host, health_port)
            if role in ("worker", "all"):
                worker = build_worker(
                    runtime, yield_to=runner.app[INTAKE_LOAD_KEY] if runner else None
                )
                await worker.start()
                log.info(
                    "worker %s running up to %d job(s) at once",
                    worker.owner,
                    settings.max_concurrent_workflows,
                )
            await stop.wait()
            log.info("shutting down")
        finally:
            if proxy is not None:
                await proxy.stop()
            # Both roles stop at once and share one grace period: the worker
            # takes no new job while the web server drains its requests.
            stopping = (
                asyncio.create_task(worker.stop(settings.shutdown_grace_seconds))
                if worker is not None
                else None
            )
            try:
                if runner is not None:
                    await runner.cleanup()
            finally:
                if stopping is not None:
                    await stopping
            if health_runner is not None:  # answers while the worker drains
                await health_runner.cleanup()
            # After the worker: its jobs' CPU work finishes within the grace period.
            await asyncio.to_thread(cpu.shutdown)
            if runtime is not None:
                await runtime.codegen.aclose()
                await runtime.github.aclose()  # lets go of its write leases
            await session.close()
            await pool.close()
