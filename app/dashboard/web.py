"""The dashboard's HTTP plumbing: the headers every page sends (a content
security policy with no inline script, no framing, no referrer, no caching),
reading and writing the session cookie, and the CSRF check of a posted form."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from app.config import Settings
from app.dashboard import sessions, sign_outs_store
from app.dashboard.sessions import SESSION_COOKIE, Session
from app.onboarding.manifest import public_base_url
from app.runtime import Runtime

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}

SESSION = web.RequestKey("session", Session)  # the signed-in viewer's, set by Pages.page
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def secured(handler: Handler) -> Handler:
    """Send the security headers with whatever the handler answers (errors too)."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in exc.headers})
            raise
        except Exception:  # aiohttp's own 500 page would go without the headers
            log.exception("dashboard: %s %s failed", request.method, request.path)
            raise web.HTTPInternalServerError(
                text="Something failed on our side; try again in a minute.",
                headers=SECURITY_HEADERS,
            ) from None
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return wrapper


def see_other(location: str) -> web.Response:
    """A 303 to `location` (after a form: the browser follows it with a GET)."""
    return web.Response(status=303, headers={"Location": location})


def session_key(settings: Settings) -> bytes | None:
    """None when the server has nothing to sign with (no App, no ADMIN_TOKEN)."""
    try:
        return sessions.derive_key(
            settings.session_secret, settings.github_private_key, settings.admin_token
        )
    except ValueError:
        return None


def is_https(request: web.Request, settings: Settings) -> bool:
    """Whether the browser reached us over HTTPS: directly, by PUBLIC_URL, or as a
    proxy says. A forged X-Forwarded-Proto can only make the cookie stricter."""
    return (
        request.secure
        or (settings.public_url or "").startswith("https://")
        or request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip() == "https"
    )


def base_url(request: web.Request, settings: Settings) -> str:
    return public_base_url(
        settings.public_url,
        scheme=request.scheme,
        host=request.host,
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_host=request.headers.get("X-Forwarded-Host"),
    )


def cookie_session(request: web.Request, settings: Settings) -> Session | None:
    """The session the cookie holds, signature and time checked (not whether it
    was signed out: `current_session`)."""
    key = session_key(settings)
    if key is None:
        return None
    return sessions.verify(key, request.cookies.get(SESSION_COOKIE), time.time())


async def current_session(request: web.Request, runtime: Runtime) -> Session | None:
    """The signed-in viewer's session: a cookie that checks, of a session that
    was not signed out (one indexed lookup)."""
    session = cookie_session(request, runtime.settings)
    if session is None:
        return None
    if await sign_outs_store.signed_out(runtime.pool, sessions.session_hash(session)):
        return None
    return session


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    settings: Settings,
    name: str,
    value: str,
    max_age: int,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=is_https(request, settings),
        samesite="Lax",
    )


async def checked_form(
    request: web.Request, settings: Settings, session: Session
) -> dict[str, str]:
    """The posted form, once its CSRF token is this session's for this path; 403 if not."""
    form = await request.post()
    key = session_key(settings)
    token = form.get("csrf")
    if key is None or not sessions.csrf_ok(
        key, session, request.path, token if isinstance(token, str) else None
    ):
        raise web.HTTPForbidden(text="The form expired or did not come from this page; reload it.")
    return {k: v for k, v in form.items() if isinstance(v, str)}
