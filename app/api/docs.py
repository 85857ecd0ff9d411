"""The API's documents: OpenAPI at `/api-docs.json`, Swagger UI at `/api-docs`
from the assets of the swagger-ui-bundle-v2 wheel served here (no CDN: the page
works offline and tells no third party who reads it), and a Postman collection
derived from the document at `/postman-collection`."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from app.api import openapi
from app.api.mount import ASSETS_PATH, DOCS_PATH, Handler

# The only files the page needs; nothing else of the wheel is served.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api-docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    validatorUrl: null
  });
});
"""
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{openapi.TITLE}</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/swagger-ui-standalone-preset.js"></script>
<script src="{DOCS_PATH}/init.js"></script>
</body></html>
"""
# The page runs only scripts from this server, and talks only to it.
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)


async def openapi_json(_request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def postman(_request: web.Request) -> web.Response:
    return web.json_response(openapi.postman_collection(openapi.document()))


async def page(_request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE, content_type="text/html", headers={"Content-Security-Policy": _CSP}
    )


async def init_js(_request: web.Request) -> web.Response:
    return web.Response(text=_INIT, content_type="text/javascript")


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(
        Path(str(swagger_ui_path)) / name,
        headers={"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400"},
    )


def handlers() -> dict[str, Handler]:
    """Each GET route's handler by its path (app/api/mount.py registers them)."""
    return {
        "/api-docs.json": openapi_json,
        DOCS_PATH: page,
        f"{DOCS_PATH}/init.js": init_js,
        f"{ASSETS_PATH}/{{name}}": asset,
        "/postman-collection": postman,
    }
