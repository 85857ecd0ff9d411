"""`issues`: the trigger label starts a task; closing the issue, removing the
label or editing a thin issue steer it."""

from __future__ import annotations

import logging

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.github.permissions import is_bot
from app.runtime import HandlerContext
from app.tasks import start as task_start
from app.tasks import stopping

router = Router()
log = logging.getLogger(__name__)


@router.register("issues", action="labeled")
async def issue_labeled(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    if is_bot(data["sender"]) or "pull_request" in data["issue"]:
        return
    await task_start.start_from_label(ctx, gh, data)


@router.register("issues", action="edited")
async def issue_edited(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    await task_start.resume_after_edit(ctx, gh, event.data)


@router.register("issues", action="closed")
async def issue_closed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    reason = f"the issue was closed by @{data['sender']['login']}"
    await stopping.stop_for_issue(
        ctx.runtime, data["repository"]["full_name"], data["issue"]["number"], reason
    )


@router.register("issues", action="unlabeled")
async def issue_unlabeled(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    if is_bot(data["sender"]) or "label" not in data:
        return
    await stopping.stop_on_unlabel(ctx.runtime, gh, data)
