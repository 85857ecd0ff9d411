"""Signing in and out: GitHub's user authorization (the App's client id and
secret, which the manifest flow stored), or the operator's ADMIN_TOKEN.

The OAuth state is random per attempt and travels in a signed, HttpOnly
cookie; the callback accepts GitHub's answer only with that cookie's state, so
a code started in another browser (a login CSRF) is refused."""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import time

from aiohttp import web

from app.api import store as api_store
from app.api.rates import client_address
from app.dashboard import oauth, sessions, sign_outs_store, store
from app.dashboard.render import render
from app.dashboard.sessions import SESSION_COOKIE, STATE_COOKIE
from app.dashboard.web import (
    base_url,
    cookie_session,
    current_session,
    secured,
    see_other,
    session_key,
    set_cookie,
)
from app.onboarding.manifest import SIGN_IN_CALLBACK_PATH
from app.runtime import Runtime

log = logging.getLogger(__name__)

CALLBACK_PATH = SIGN_IN_CALLBACK_PATH
STATE_SECONDS = 600
HOME = "/dashboard"
# Operator-key sign-ins one client address may try per API rate window (the
# key is 24 characters or more, so this only stops a guesser from hammering).
OPERATOR_KEY_TRIES = 10


def _page(name: str, status: int = 200, **context: object) -> web.Response:
    return web.Response(text=render(name, **context), status=status, content_type="text/html")


def _problem(text: str, status: int) -> web.Response:
    return _page("message.html", status, title="Sign-in failed", message=text, viewer=None)


class SignIn:
    """The routes of signing in and out."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/login", secured(self.login_page))
        app.router.add_get("/login/github", secured(self.to_github))
        app.router.add_get(CALLBACK_PATH, secured(self.callback))
        app.router.add_post("/login/token", secured(self.with_token))
        app.router.add_post("/logout", secured(self.logout))

    @property
    def oauth_ready(self) -> bool:
        s = self.runtime.settings
        return bool(s.github_client_id and s.github_client_secret)

    def _key(self) -> bytes:
        key = session_key(self.runtime.settings)
        if key is None:
            raise web.HTTPServiceUnavailable(
                text="The dashboard needs a GitHub App or ADMIN_TOKEN to sign sessions with."
            )
        return key

    def _new_state(self, request: web.Request, response: web.StreamResponse) -> str:
        state = secrets.token_urlsafe(24)
        signed = sessions.sign_value(self._key(), state)
        set_cookie(response, request, self.runtime.settings, STATE_COOKIE, signed, STATE_SECONDS)
        return state

    def _state_matches(self, request: web.Request, given: str | None) -> bool:
        kept = sessions.unsign_value(self._key(), request.cookies.get(STATE_COOKIE))
        return bool(kept and given and given.isascii() and hmac.compare_digest(kept, given))

    async def login_page(self, request: web.Request) -> web.Response:
        if await current_session(request, self.runtime) is not None:
            raise web.HTTPSeeOther(HOME)
        response = web.Response(content_type="text/html")
        token_login = bool(self.runtime.settings.admin_token)
        state = self._new_state(request, response) if token_login else ""
        response.text = render(
            "login.html", oauth=self.oauth_ready, token_login=token_login, viewer=None, state=state
        )
        return response

    async def to_github(self, request: web.Request) -> web.StreamResponse:
        if not self.oauth_ready:
            return _problem("Sign-in with GitHub is not set up (GITHUB_CLIENT_ID).", 404)
        settings = self.runtime.settings
        response = see_other("/")
        state = self._new_state(request, response)
        assert settings.github_client_id is not None
        response.headers["Location"] = oauth.authorize_url(
            settings.github_web_url,
            settings.github_client_id,
            base_url(request, settings) + CALLBACK_PATH,
            state,
        )
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        settings = self.runtime.settings
        code, state = request.query.get("code"), request.query.get("state")
        if not self.oauth_ready:
            return _problem("Sign-in with GitHub is not set up.", 404)
        if not code or not state:
            return _problem("GitHub's answer lacked its code; sign in again.", 400)
        if not self._state_matches(request, state):
            return _problem("This sign-in was not started in this browser; sign in again.", 403)
        assert settings.github_client_id and settings.github_client_secret
        try:
            token = await oauth.exchange_code(
                self.runtime.github.session,
                settings.github_web_url,
                settings.github_client_id,
                settings.github_client_secret,
                code,
                base_url(request, settings) + CALLBACK_PATH,
            )
            person = await oauth.who_and_where(
                self.runtime.github.session, settings.github_api_url, token
            )
        except oauth.SignInError as exc:
            return _problem(str(exc), 400)
        await store.save_access(self.runtime.pool, person.login, person.repositories)
        log.info(
            "dashboard: %s signed in with GitHub (%d repositories)",
            person.login,
            len(person.repositories),
        )
        return self._signed_in(request, person.login, admin=False)

    def _signed_in(self, request: web.Request, login: str, *, admin: bool) -> web.StreamResponse:
        session = sessions.new_session(login, admin=admin, now=time.time())
        response = see_other(HOME)
        set_cookie(
            response,
            request,
            self.runtime.settings,
            SESSION_COOKIE,
            sessions.sign(self._key(), session),
            sessions.SESSION_SECONDS,
        )
        response.del_cookie(STATE_COOKIE, path="/")
        return response

    async def with_token(self, request: web.Request) -> web.StreamResponse:
        expected = self.runtime.settings.admin_token
        form = await request.post()
        given, state = form.get("token"), form.get("state")
        if not expected:
            return _problem("No operator key is set (ADMIN_TOKEN).", 404)
        if not isinstance(state, str) or not self._state_matches(request, state):
            return _problem("The form expired; open the sign-in page again.", 403)
        settings = self.runtime.settings
        address = client_address(request, settings.api_client_address_header)
        tries, remaining = await api_store.hit(
            self.runtime.pool, f"operator-key:{address}", settings.api_rate_window_seconds
        )
        if tries > OPERATOR_KEY_TRIES:
            wait = max(1, math.ceil(remaining))
            log.warning("dashboard: operator key tries from one address past the limit")
            response = _problem(
                f"Too many sign-ins with an operator key from this address; try again in {wait} s.",
                429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        if not isinstance(given, str) or not hmac.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            log.warning("dashboard: a wrong operator key was given")
            return _problem("That is not the operator key.", 403)
        return self._signed_in(request, "operator", admin=True)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = cookie_session(request, self.runtime.settings)
        form = await request.post()
        token = form.get("csrf")
        key = session_key(self.runtime.settings)
        if key is None or not sessions.csrf_ok(
            key, session, "/logout", token if isinstance(token, str) else None
        ):
            raise web.HTTPForbidden(text="The form expired; reload the page.")
        assert session is not None  # csrf_ok refuses without one
        # Ended everywhere, not only in this browser: a copy of the cookie is refused.
        await sign_outs_store.record(
            self.runtime.pool, sessions.session_hash(session), session.expires
        )
        response = see_other("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response
