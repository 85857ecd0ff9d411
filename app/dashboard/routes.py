"""The dashboard's routes, added to the web role's application in one call."""

from __future__ import annotations

from aiohttp import web

from app.dashboard.operations import Operations
from app.dashboard.signin import SignIn
from app.dashboard.web import current_session
from app.runtime import Runtime


def add_routes(app: web.Application, runtime: Runtime) -> None:
    SignIn(runtime).add_routes(app)
    Operations(runtime).add_routes(app)


async def signed_in(request: web.Request, runtime: Runtime) -> bool:
    """Whether `/` should send this browser to the dashboard."""
    return await current_session(request, runtime) is not None
