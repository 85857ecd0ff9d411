"""The `delivery` job: a stored delivery turned into calls to the handlers' router."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from gidgethub import sansio
from gidgethub.routing import Router

from app.deliveries import store as deliveries
from app.observability.logs import delivery_id_var
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError
from app.runtime import HandlerContext, Runtime

log = logging.getLogger(__name__)


# Events whose handlers only record what changed: they need no installation
# token (after `deleted` or `suspend` GitHub would refuse to mint one).
APP_LEVEL_EVENTS = frozenset({"installation", "installation_repositories", "repository"})


def is_own_event(data: dict[str, Any], bot_login: str | None) -> bool:
    """Events our own bot user caused; acting on them would loop."""
    sender = data.get("sender")
    if not isinstance(sender, dict) or not bot_login:
        return False
    return sender.get("login") == bot_login


async def handle_delivery(runtime: Runtime, router: Router, job: Job) -> None:
    delivery_id = job.payload["delivery_id"]
    token = delivery_id_var.set(delivery_id)
    try:
        await _handle_delivery(runtime, router, job, delivery_id)
    finally:
        delivery_id_var.reset(token)


async def _handle_delivery(runtime: Runtime, router: Router, job: Job, delivery_id: str) -> None:
    pool = runtime.pool
    delivery = await deliveries.get(pool, delivery_id)
    if delivery is None:
        raise PermanentJobError(f"delivery {delivery_id} is not stored")
    if delivery.status in ("processed", "ignored", "dropped"):
        return  # already handled by an earlier attempt that crashed before completing the job
    data = orjson.loads(delivery.payload)
    event = sansio.Event(data, event=delivery.event, delivery_id=delivery.id)
    name = f"{delivery.event}.{delivery.action}" if delivery.action else delivery.event

    if not router.fetch(event):
        await deliveries.set_status(pool, delivery_id, "ignored")
        log.debug("no handler for %s", name)
        return
    github = runtime.github
    bot_login = None
    if github.configured:
        bot_login = await github.bot_login()
    if is_own_event(data, bot_login):
        await deliveries.set_status(pool, delivery_id, "dropped")
        log.info("dropped %s sent by our own bot user", name)
        return

    gh = None
    if delivery.installation_id is not None and delivery.event not in APP_LEVEL_EVENTS:
        if not github.configured:
            raise PermanentJobError(
                "GitHub App is not configured (GITHUB_APP_ID, GITHUB_PRIVATE_KEY); "
                f"cannot act on {name}"
            )
        gh = await github.for_installation(delivery.installation_id)
    ctx = HandlerContext(runtime, delivery_id, delivery.installation_id, delivery.received_at)
    try:
        await router.dispatch(event, gh, ctx)
    except Exception as exc:
        last = job.attempts >= job.max_attempts or isinstance(exc, PermanentJobError)
        await deliveries.set_status(pool, delivery_id, "failed" if last else "queued", repr(exc))
        raise
    await deliveries.set_status(pool, delivery_id, "processed")
    log.info("handled %s", name)


def delivery_jobs(router: Router) -> JobRegistry:
    """The `delivery` job kind, bound to the handlers' router (which lives above
    `app` in the layering, so the composition root passes it in)."""
    registry = JobRegistry()

    @registry.job(deliveries.DELIVERY_JOB_KIND)
    async def delivery(runtime: Runtime, job: Job) -> None:
        await handle_delivery(runtime, router, job)

    return registry
