"""Turning a stored delivery into handler calls, and the job kinds a worker runs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from gidgethub import sansio
from gidgethub.routing import Router

from app.deliveries import store as deliveries
from app.followups import flow as task_actions
from app.observability.logs import delivery_id_var
from app.queue.store import Job
from app.queue.worker import JobHandler, PermanentJobError
from app.repo_settings import labels
from app.runtime import HandlerContext, Runtime
from app.tasks import flow as task_flow
from app.validation import flow as validation_flow

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
        bot_login = f"{await github.slug()}[bot]"
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


def dead_job_handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """Clean-up for jobs that failed for good: an error on their last attempt, or
    a worker that kept dying while holding them."""

    async def task_died(job: Job) -> None:
        await task_flow.job_died(runtime, job)

    async def validation_died(job: Job) -> None:
        await validation_flow.job_died(runtime, job)

    async def followup_died(job: Job) -> None:
        await task_actions.job_died(runtime, job)

    async def ban_died(job: Job) -> None:
        await task_flow.ban_died(runtime, job)

    return {
        task_flow.ADVANCE_JOB: task_died,
        task_flow.POLL_JOB: task_died,
        validation_flow.RUN_JOB: validation_died,
        task_actions.SEND_JOB: followup_died,
        task_actions.POLL_JOB: followup_died,
        task_flow.BAN_JOB: ban_died,
    }


def job_handlers(runtime: Runtime, router: Router) -> dict[str, JobHandler]:
    """Every job kind this process can run."""

    def bind(fn: Callable[..., Awaitable[None]], *args: Any) -> JobHandler:
        async def run(job: Job) -> None:
            await fn(*args, job)

        return run

    return {
        deliveries.DELIVERY_JOB_KIND: bind(handle_delivery, runtime, router),
        labels.ENSURE_LABEL_JOB: bind(labels.ensure_label, runtime),
        task_flow.ADVANCE_JOB: bind(task_flow.advance_job, runtime),
        task_flow.POLL_JOB: bind(task_flow.poll_job, runtime),
        task_flow.RENDER_JOB: bind(task_flow.render_job, runtime),
        task_flow.NOTIFY_JOB: bind(task_flow.notify_job, runtime),
        task_flow.BAN_JOB: bind(task_flow.ban_job, runtime),
        task_flow.LINK_JOB: bind(validation_flow.link_job, runtime),
        validation_flow.RUN_JOB: bind(validation_flow.run_job, runtime),
        validation_flow.CI_FIX_JOB: bind(validation_flow.ci_fix_job, runtime),
        validation_flow.MERGE_JOB: bind(validation_flow.merge_job, runtime),
        task_actions.SEND_JOB: bind(task_actions.send_job, runtime),
        task_actions.POLL_JOB: bind(task_actions.poll_job, runtime),
    }
