"""`check_run`, `check_suite`, `status`: the repository's CI reporting on a
validated commit, the Re-run buttons, and the check run's action buttons."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.runtime import HandlerContext
from app.validation import buttons
from app.validation import report as check_report
from app.validation.heads import ci_event

router = Router()


def _repository(data: dict[str, Any]) -> str:
    return data["repository"]["full_name"]


@router.register("check_run", action="completed")
async def check_run_completed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    run = event.data["check_run"]
    if run.get("name") == check_report.CHECK_NAME:
        return  # ours (normally dropped as our own event already)
    await ci_event(ctx.runtime, _repository(event.data), run["head_sha"], ctx.delivery_id)


@router.register("check_suite", action="completed")
async def check_suite_completed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    suite = event.data["check_suite"]
    await ci_event(ctx.runtime, _repository(event.data), suite["head_sha"], ctx.delivery_id)


@router.register("status")
async def status_changed(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    if event.data.get("state") == "pending":
        return  # only a finished status can end a wait or change a verdict
    await ci_event(ctx.runtime, _repository(event.data), event.data["sha"], ctx.delivery_id)


@router.register("check_run", action="rerequested")
async def check_run_rerequested(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    run = event.data["check_run"]
    await buttons.rerun(
        ctx.runtime, gh, _repository(event.data), run["head_sha"], event.data["sender"]
    )


@router.register("check_suite", action="rerequested")
async def check_suite_rerequested(
    event: sansio.Event, gh: GitHubClient, ctx: HandlerContext
) -> None:
    suite = event.data["check_suite"]
    await buttons.rerun(
        ctx.runtime, gh, _repository(event.data), suite["head_sha"], event.data["sender"]
    )


@router.register("check_run", action="requested_action")
async def check_run_action(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    await buttons.requested_action(
        ctx.runtime,
        gh,
        repository=_repository(data),
        check_run_id=data["check_run"]["id"],
        identifier=(data.get("requested_action") or {}).get("identifier"),
        who=data["sender"]["login"],
        delivery_id=ctx.delivery_id,
    )
