"""The `delivery` job: a stored delivery turned into calls to the handlers' router."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
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
# What an earlier attempt recorded when it was done with the delivery (it then
# crashed before completing the job): nothing is left to do.
FINISHED = frozenset({"processed", "ignored", "dropped"})


def is_own_event(data: dict[str, Any], bot_login: str | None) -> bool:
    """Events our own bot user caused; acting on them would loop."""
    sender = data.get("sender")
    if not isinstance(sender, dict) or not bot_login:
        return False
    return sender.get("login") == bot_login


class Action(StrEnum):
    """What becomes of a stored delivery not yet finished."""

    IGNORE = "ignore"  #: no handler wants it: recorded `ignored`
    DROP = "drop"  #: our own bot user caused it: recorded `dropped`, never acted on
    REFUSE = "refuse"  #: its handlers need a token the unconfigured App cannot mint
    DISPATCH = "dispatch"  #: handed to the handlers


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery, and the installation whose token its handlers
    get (None: no client, for App-level events and deliveries without one)."""

    action: Action
    token_for: int | None = None


def decide(
    *,
    event: str,
    installation_id: int | None,
    has_handler: bool,
    own_event: bool,
    configured: bool,
) -> Decision:
    """Decide a delivery's fate from what is known about it, without I/O."""
    if not has_handler:
        return Decision(Action.IGNORE)
    if own_event:
        return Decision(Action.DROP)
    if installation_id is None or event in APP_LEVEL_EVENTS:
        return Decision(Action.DISPATCH)
    if not configured:
        return Decision(Action.REFUSE)
    return Decision(Action.DISPATCH, token_for=installation_id)


def status_after_failure(attempts: int, max_attempts: int, exc: BaseException) -> str:
    """A handler failed: the delivery waits for the job's retry, or is `failed`
    when that was the last attempt or the error is permanent."""
    last = attempts >= max_attempts or isinstance(exc, PermanentJobError)
    return "failed" if last else "queued"


async def handle_delivery(runtime: Runtime, router: Router, job: Job) -> None:
    delivery_id = job.payload["delivery_id"]
    token = delivery_id_var.set(delivery_id)
    try:
        await _handle_delivery(runtime, router, job, delivery_id)
    finally:
        delivery_id_var.reset(token)


async def _handle_delivery(runtime: Runtime, router: Router, job: Job, delivery_id: str) -> None:
    """The thin step: gather the facts `decide` needs (the bot's login only when
    a handler wants the event), then record and act on its decision."""
    pool, github = runtime.pool, runtime.github
    delivery = await deliveries.get(pool, delivery_id)
    if delivery is None:
        raise PermanentJobError(f"delivery {delivery_id} is not stored")
    if delivery.status in FINISHED:
        return
    data = orjson.loads(delivery.payload)
    event = sansio.Event(data, event=delivery.event, delivery_id=delivery.id)
    name = f"{delivery.event}.{delivery.action}" if delivery.action else delivery.event
    has_handler = bool(router.fetch(event))
    bot_login = await github.bot_login() if has_handler and github.configured else None
    decision = decide(
        event=delivery.event,
        installation_id=delivery.installation_id,
        has_handler=has_handler,
        own_event=is_own_event(data, bot_login),
        configured=github.configured,
    )
    if decision.action is Action.IGNORE:
        await deliveries.set_status(pool, delivery_id, "ignored")
        log.debug("no handler for %s", name)
        return
    if decision.action is Action.DROP:
        await deliveries.set_status(pool, delivery_id, "dropped")
        log.info("dropped %s sent by our own bot user", name)
        return
    if decision.action is Action.REFUSE:
        # A setting missing, not a bug: the message says it all, so no traceback
        # is formatted per job (every delivery hits it until the App is set up).
        raise PermanentJobError(
            "GitHub App is not configured (GITHUB_APP_ID, GITHUB_PRIVATE_KEY); "
            f"cannot act on {name}",
            show_traceback=False,
        )
    gh = None
    if decision.token_for is not None:
        gh = await github.for_installation(decision.token_for)
    ctx = HandlerContext(runtime, delivery_id, delivery.installation_id, delivery.received_at)
    try:
        await router.dispatch(event, gh, ctx)
    except Exception as exc:
        status = status_after_failure(job.attempts, job.max_attempts, exc)
        await deliveries.set_status(pool, delivery_id, status, repr(exc))
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
