"""`push`: a repository's default branch moved, so the settings files the bot
read from it (`.github/codegen.yml`, an organisation's `.github` defaults, an
`_extends` target) are read afresh at their next use
(app/repo_settings/changes.py)."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.github.client import GitHubClient
from app.repo_settings import changes
from app.runtime import HandlerContext

router = Router()


@router.register("push")
async def pushed(event: sansio.Event, gh: GitHubClient | None, ctx: HandlerContext) -> None:
    changes.forget_pushed(ctx.runtime.github.caches, event.data)
