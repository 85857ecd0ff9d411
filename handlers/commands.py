"""`/codegen` commands in issue and pull-request comments, review comments and
review bodies.

Each handler reads where the commands were written and hands the comment to
the command service (app/commands/service.py), which acts on each line once,
checks who asks before writing anything, and marks the comment with how it
went. `/codegen run` and `/codegen retry` start paid agent runs and take the
label's permission, the other verbs the commands permission. Nothing a bot
writes is obeyed. Edited comments are not routed here at all: only
`created`/`submitted` are."""

from __future__ import annotations

from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from app.commands import service
from app.commands.source import Source
from app.github.client import GitHubClient
from app.runtime import HandlerContext

router = Router()


@router.register("issue_comment", action="created")
async def issue_comment_created(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    await _handle(ctx, gh, event.data, Source.of_issue_comment(event.data))


@router.register("pull_request_review_comment", action="created")
async def review_comment_created(
    event: sansio.Event, gh: GitHubClient, ctx: HandlerContext
) -> None:
    await _handle(ctx, gh, event.data, Source.of_review_comment(event.data))


@router.register("pull_request_review", action="submitted")
async def review_submitted(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    await _handle(ctx, gh, event.data, Source.of_review(event.data))


async def _handle(
    ctx: HandlerContext, gh: GitHubClient, data: dict[str, Any], source: Source
) -> None:
    """A bot's commands (its author's or its sender's) are never obeyed nor answered."""
    if ctx.is_bot(source.author) or ctx.is_bot(ctx.sender(data)):
        return
    await service.handle(ctx, gh, data, source)
