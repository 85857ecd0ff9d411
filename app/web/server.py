"""The aiohttp application: webhook intake, health, metrics and the status page."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api import mount as api
from app.dashboard import routes as dashboard
from app.deliveries import store as deliveries
from app.deliveries.store import BatchWriter
from app.github import installations_store as installations
from app.observability import kpis_store as kpis
from app.observability import metrics
from app.onboarding.proxy import WebhookProxy
from app.onboarding.registration import Registration
from app.queue import store as jobs
from app.runtime import Runtime
from app.web.front import KEEPALIVE_SECONDS
from app.web.intake import MAX_BODY_BYTES, WEBHOOK_PATH, IntakeLoad, WebhookIntake
from app.web.plain_http import ERROR_ANSWER, EVERY_ANSWER

log = logging.getLogger(__name__)

RUNTIME_KEY = web.AppKey("runtime", Runtime)
WRITER_KEY = web.AppKey("writer", BatchWriter)
REGISTRATION_KEY = web.AppKey("registration", Registration)
PROXY_KEY = web.AppKey("proxy", WebhookProxy)
# The intake's load, for a worker in the same process to yield to (`serve`).
INTAKE_LOAD_KEY = web.AppKey("intake_load", IntakeLoad)
# The intake itself, for the front on the web port (app/web/front.py).
INTAKE_KEY = web.AppKey("intake", WebhookIntake)
_HEALTH_TIMEOUT = 3.0
# AppRunner options: no access log (metrics count requests), a short lingering
# close so an oversized upload we refused does not hold shutdown, and the
# front's keep-alive for the connections it hands over.
RUNNER_OPTIONS = {
    "access_log": None,
    "lingering_time": 2.0,
    "keepalive_timeout": KEEPALIVE_SECONDS,
}


async def health(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            stats = await jobs.queue_stats(runtime.pool)
    except Exception as exc:  # any failure to answer means unhealthy
        return web.json_response(
            {"status": "unavailable", "database": False, "error": exc.__class__.__name__},
            status=503,
        )
    return web.json_response(
        {
            "status": "ok",
            "database": True,
            "github_app_configured": runtime.github.configured,
            "queue_depth": stats["ready"],
            "oldest_queued_job_age_seconds": round(stats["oldest_ready_age"], 3),
            "jobs": {k: stats[k] for k in ("ready", "scheduled", "running", "dead")},
        }
    )


async def metrics_view(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            stats = await jobs.queue_stats(runtime.pool)
        for state in ("ready", "scheduled", "running", "dead"):
            metrics.QUEUE_DEPTH.labels(state=state).set(stats[state])
        metrics.QUEUE_OLDEST_AGE.set(stats["oldest_ready_age"])
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        log.warning("queue metrics unavailable: database did not answer")
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def index(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    settings = runtime.settings
    if runtime.github.configured and await dashboard.signed_in(request, runtime):
        raise web.HTTPSeeOther("/dashboard")
    problems = []
    if not runtime.github.configured:
        problems.append(
            "GitHub App not configured: register one below, or set GITHUB_APP_ID and "
            "GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)."
        )
    if not settings.github_webhook_secret:
        problems.append(
            "GITHUB_WEBHOOK_SECRET is not set: webhook deliveries are refused "
            "because they cannot be verified."
        )
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            stats = await jobs.queue_stats(runtime.pool)
            delivered = await deliveries.count(runtime.pool)
            installed = await installations.counts(runtime.pool)
            figures = await kpis.compute(runtime.pool)
        facts = {
            "deliveries": delivered,
            **installed,
            **{f"jobs {k}": stats[k] for k in ("ready", "running", "dead")},
        }
        facts.update(
            (name.replace("_", " "), "—" if value is None else round(value, 3))
            for name, value in figures.items()
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        facts = {"database": "not answering"}
    proxy = request.app.get(PROXY_KEY)
    if proxy is not None:
        facts["webhook proxy"] = proxy.describe()
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    notes = "".join(f"<li>{html.escape(p)}</li>" for p in problems) or "<li>Configured.</li>"
    offer, state = "", None
    if not runtime.github.configured:
        offer, state = request.app[REGISTRATION_KEY].offer(request)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>codegen-bot</title>
<style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto}}
th{{text-align:left;padding-right:1rem}}</style>
</head><body><h1>codegen-bot</h1><h2>Set-up</h2><ul>{notes}</ul>{offer}
<p>Webhook URL: <code>{html.escape(WEBHOOK_PATH)}</code> &middot; API root:
<code>{html.escape(settings.github_api_url)}</code> &middot; trigger label:
<code>{html.escape(settings.trigger_label)}</code></p>
<h2>State</h2><table>{rows}</table>
<p><a href="/login">Sign in to the dashboard</a> &middot; <a href="/health">/health</a>
&middot; <a href="/metrics">/metrics</a> &middot;
<a href="/api-docs">REST API</a></p></body></html>"""
    response = web.Response(text=page, content_type="text/html")
    if state is not None:
        request.app[REGISTRATION_KEY].bind_state(request, response, state)
    return response


async def baseline_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: no answer of ours is sniffed as another type, and
    no error page can be framed or run anything."""
    headers = response.headers
    for name, value in EVERY_ANSWER.items():
        headers.setdefault(name, value)
    if response.status >= 400:
        for name, value in ERROR_ANSWER.items():
            headers.setdefault(name, value)


def make_health_app(runtime: Runtime) -> web.Application:
    """Only `/health` and `/metrics`: what a worker serves (it takes no webhooks),
    and what any role serves on METRICS_PORT."""
    app = web.Application()
    app.on_response_prepare.append(baseline_headers)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    return app


def make_web_app(runtime: Runtime, *, proxy: WebhookProxy | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(baseline_headers)
    app[RUNTIME_KEY] = runtime
    writer = BatchWriter(runtime.dsn, job_max_attempts=runtime.settings.job_max_attempts)
    app[WRITER_KEY] = writer
    intake = WebhookIntake(runtime.settings.github_webhook_secret, writer)
    app.router.add_post(WEBHOOK_PATH, intake.handle)
    app[INTAKE_LOAD_KEY] = intake.load
    app[INTAKE_KEY] = intake
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/", index)
    registration = Registration(runtime, intake.set_secret)
    registration.add_routes(app)
    app[REGISTRATION_KEY] = registration
    # The REST API (/api/v1/...) and its documents (/api-docs, /postman-collection),
    # loaded on the first request to one of them.
    api.add_routes(app, runtime)
    dashboard.add_routes(app, runtime)
    if proxy is not None:
        app[PROXY_KEY] = proxy

    async def writer_connections(_app: web.Application) -> AsyncIterator[None]:
        await writer.open()
        yield
        await writer.close()

    async def drain_writer(_app: web.Application) -> None:
        await writer.drain()

    app.cleanup_ctx.append(writer_connections)
    app.on_shutdown.append(drain_writer)
    return app
