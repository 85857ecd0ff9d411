"""Webhook handlers, one module per GitHub concern, each exporting a `router`.

A handler is `async def handler(event, gh, ctx)`: the gidgethub event, an
installation-authenticated client (None for App-level events) and a
`HandlerContext`."""

from gidgethub.routing import Router

from handlers import (
    checks,
    commands,
    installations,
    issues,
    pull_requests,
    pushes,
    repositories,
    reviews,
)

router = Router(
    installations.router,
    repositories.router,
    pushes.router,
    issues.router,
    pull_requests.router,
    checks.router,
    commands.router,
    reviews.router,
)

__all__ = ["router"]
