"""`pull_request`: a task's PR (or any PR, with `validate: all`) is validated
at each new head commit; its end moves the task to merged or closed."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.pull_requests.closed import pull_request_closed
from app.runtime import HandlerContext
from app.validation.heads import pull_request_changed

router = Router()


@router.register("pull_request", action="opened")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="synchronize")
@router.register("pull_request", action="ready_for_review")
async def pull_request_pushed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    await pull_request_changed(
        ctx.runtime,
        gh,
        ctx.installation_id,
        data["repository"]["full_name"],
        data["pull_request"],
        data["action"],
    )


@router.register("pull_request", action="closed")
async def pull_request_ended(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    pull = data["pull_request"]
    await pull_request_closed(
        ctx.runtime,
        data["repository"]["full_name"],
        pull["number"],
        bool(pull.get("merged")),
        data["sender"]["login"],
    )
