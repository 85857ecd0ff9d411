"""The REST API on the web application, loaded on its first request.

The API's definitions (pydantic, its models, the OpenAPI document, Swagger
UI's assets) hold about 11 MiB and take 200-350 ms to import; most
deployments take webhooks all day and an API request now and then, or never.
So `add_routes` registers every route of the API and its documents at start-up
(the same methods and paths: aiohttp answers 404 and 405 as before) with a
stand-in handler, and the first request to any of them imports
`app.api.routes` and `app.api.docs` in a thread, not on the event loop that
takes the webhooks meanwhile, once per application however many requests
arrive together; every request then goes to the real handler.

`OPERATION_ROUTES` repeats the method and path of each entry of
`app.api.routes.OPERATIONS` (importing the table would load what this module
exists to defer); a test holds the two equal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from app.api.errors import ApiError
from app.api.keys import parse_keys
from app.api.rates import Limits
from app.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str]  # method, path as aiohttp registers it

PREFIX = "/api/v1"
OPERATION_ROUTES: tuple[Route, ...] = (
    ("POST", f"{PREFIX}/tasks"),
    ("GET", f"{PREFIX}/tasks"),
    ("GET", f"{PREFIX}/tasks/{{task_id}}"),
    ("POST", f"{PREFIX}/tasks/{{task_id}}/cancel"),
    ("POST", f"{PREFIX}/codegen/generate-prompt"),
    ("POST", f"{PREFIX}/codegen/create-pr"),
    ("GET", f"{PREFIX}/codegen/status/{{task_id}}"),
    ("POST", f"{PREFIX}/codegen/retry/{{task_id}}"),
)
DOCS_PATH = "/api-docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# GET routes (HEAD answered too) of app.api.docs.
DOC_PATHS: tuple[str, ...] = (
    "/api-docs.json",
    DOCS_PATH,
    f"{DOCS_PATH}/init.js",
    f"{ASSETS_PATH}/{{name}}",
    "/postman-collection",
)

KEYS = web.AppKey("api_keys", tuple)
LIMITS = web.AppKey("api_limits", Limits)
RUNTIME = web.AppKey("api_runtime", Runtime)


def load_handlers() -> dict[Route, Handler]:
    """Import the API and its documents: every route's real handler."""
    from app.api import docs, routes

    return {**routes.handlers(), **{("GET", path): h for path, h in docs.handlers().items()}}


class LazyApi:
    """The real handlers of one application, loaded once, on first need."""

    def __init__(self) -> None:
        self._handlers: dict[Route, Handler] | None = None
        self._loading: asyncio.Future[dict[Route, Handler]] | None = None

    async def handlers(self) -> dict[Route, Handler]:
        if self._handlers is not None:
            return self._handlers
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(load_handlers))
        try:
            # Shielded: a first request whose client goes away does not stop the load.
            self._handlers = await asyncio.shield(self._loading)
        except Exception:
            self._loading = None  # an import that failed is tried again
            raise
        return self._handlers

    def stand_in(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                handlers = await self.handlers()
            except Exception:
                # The API's own 500 (models.Error), not aiohttp's text page: a
                # client reads it as any other failure; the next request retries.
                log.exception("the REST API could not be loaded")
                error = ApiError(500, "internal", "the server could not complete the request")
                return web.json_response(error.body(), status=500)
            return await handlers[route](request)

        return handle


def add_routes(app: web.Application, runtime: Runtime) -> LazyApi:
    """Serve every operation and document; keys and limits come from the settings."""
    settings = runtime.settings
    app[RUNTIME] = runtime
    app[KEYS] = parse_keys(settings.api_keys)
    app[LIMITS] = Limits(
        settings.api_rate_limit,
        settings.api_rate_window_seconds,
        settings.api_client_address_header,
    )
    lazy = LazyApi()
    for method, path in OPERATION_ROUTES:
        app.router.add_route(method, path, lazy.stand_in((method, path)))
    for path in DOC_PATHS:
        app.router.add_get(path, lazy.stand_in(("GET", path)))
    return lazy
