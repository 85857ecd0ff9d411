"""Reviews on the agent's pull requests as feedback: a person's review asking
for changes becomes a follow-up to the agent (app/followups/reviews.py). A
review's `/codegen` lines are handlers/commands.py's; bots are never heard."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.followups import reviews
from app.github.client import GitHubClient
from app.runtime import HandlerContext

router = Router()


@router.register("pull_request_review", action="submitted")
async def review_submitted(event: sansio.Event, gh: GitHubClient, ctx: HandlerContext) -> None:
    data = event.data
    if ctx.is_bot(data["review"].get("user")) or ctx.is_bot(ctx.sender(data)):
        return
    await reviews.on_review_submitted(ctx, data)
