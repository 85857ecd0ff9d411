"""The manifest flow's routes: the offer on `/`, the set-up token's page, the
organization page, the callback that trades GitHub's code for credentials, and
the post-install page.

Only the operator may register (app/onboarding/gate.py): a request from this
machine, or a browser that opened the set-up URL printed in the log. Everyone
else sees no form and gets 403 from every step, the callback included.

The callback checks, in this order, before anything is spent: the App is not
configured yet, the request is the operator's, the `state` is the one this
browser was given (HttpOnly cookie), signed by this process, under an hour old
and still unused, and `.env` can be written. Only then is the state consumed
and the one-time code exchanged. States are signed rather than kept: a visitor (a crawler, an
uptime check) is handed one on each visit, and no number of them can push
out the one the operator is using."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import cachetools
import gidgethub
from aiohttp import web

from app.github import installations_store as installations
from app.github import urls
from app.observability.logs import redactor
from app.onboarding import pages
from app.onboarding.credentials import ENV_KEYS, Credentials, parse_conversion
from app.onboarding.env_file import EnvFileError, check_writable, write_env
from app.onboarding.gate import SETUP_PATH, TOKEN_PARAM, SetupGate
from app.onboarding.manifest import (
    CALLBACK_PATH,
    INSTALLED_PATH,
    ManifestError,
    build_manifest,
    load_app_yml,
    new_app_url,
    public_base_url,
    valid_org,
)
from app.runtime import Runtime

log = logging.getLogger(__name__)

COOKIE = "codegen_bot_setup"
STATE_TTL = 3600.0  # GitHub's code lives an hour; a state need not live longer
_MAX_USED = 4096  # states spent within the hour (each cost a callback that passed)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class Registration:
    """The manifest flow for one running server. `set_webhook_secret` is the
    intake's, so the next delivery is verified with the new secret."""

    def __init__(
        self,
        runtime: Runtime,
        set_webhook_secret: Callable[[str | None], None],
        *,
        app_yml: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.runtime = runtime
        self.set_webhook_secret = set_webhook_secret
        self.app_yml = app_yml
        self.environ = os.environ if environ is None else environ
        self._key = secrets.token_bytes(32)
        self._used: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=_MAX_USED, ttl=STATE_TTL
        )
        self._lock = asyncio.Lock()
        settings = runtime.settings
        pinned = settings.setup_token
        self._pinned = pinned is not None
        configured = runtime.github.configured
        self.gate = SetupGate(None if configured else pinned or secrets.token_urlsafe(32))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(SETUP_PATH, self.setup)
        app.router.add_get("/setup/organization", self.organization)
        app.router.add_get(CALLBACK_PATH, self.callback)
        app.router.add_get(INSTALLED_PATH, self.installed)
        app.on_startup.append(self._announce)

    # ------------------------------------------------------------ the operator

    async def _announce(self, _app: web.Application) -> None:
        s = self.runtime.settings
        self.gate.announce(s.public_url, s.host, s.port, pinned=self._pinned)

    def _not_operator(self) -> web.Response:
        return _html(pages.not_operator(f"{SETUP_PATH}?{TOKEN_PARAM}="), 403)

    async def setup(self, request: web.Request) -> web.Response:
        """Trade the token from the log for the operator's cookie, then go to `/`."""
        if self.runtime.github.configured:
            return self._already_registered()
        if not self.gate.accepts(request.query.get(TOKEN_PARAM, "")):
            log.info("a set-up URL with a wrong or missing token was refused")
            return self._not_operator()
        response = web.Response(
            status=303,
            headers={
                "Location": "/",
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )
        self.gate.grant(response, secure=self._base_url(request).startswith("https://"))
        return response

    # ------------------------------------------------------------ the offer

    def _base_url(self, request: web.Request) -> str:
        return public_base_url(
            self.runtime.settings.public_url,
            scheme=request.scheme,
            host=request.host,
            forwarded_proto=request.headers.get("X-Forwarded-Proto"),
            forwarded_host=request.headers.get("X-Forwarded-Host"),
        )

    def _manifest(self, request: web.Request) -> dict[str, Any]:
        manifest = build_manifest(load_app_yml(self.app_yml), self._base_url(request))
        if self.runtime.settings.webhook_proxy_url:
            # Probot's way: on a laptop GitHub delivers to the channel, the proxy here.
            manifest["hook_attributes"]["url"] = self.runtime.settings.webhook_proxy_url
        return manifest

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def _pending(self, state: str) -> bool:
        """Whether `state` was handed out by this process within the hour and
        is not used yet."""
        body, _, mac = state.rpartition(".")
        issued = body.rpartition(".")[2]
        if not mac or not issued.isdigit() or len(issued) > 12:
            return False
        if not hmac.compare_digest(mac.encode(), self._sign(body).encode()):
            return False
        return time.time() - int(issued) < STATE_TTL and state not in self._used

    def _state_for(self, request: web.Request) -> str:
        """This browser's pending state, or a new one."""
        state = request.cookies.get(COOKIE, "")
        if state and self._pending(state):
            return state
        body = f"{secrets.token_urlsafe(18)}.{int(time.time())}"
        return f"{body}.{self._sign(body)}"

    def bind_state(self, request: web.Request, response: web.Response, state: str) -> None:
        """Give this browser `state` (a cookie). The page carrying it, with a
        manifest built from the request's forwarded host, is never cached."""
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.set_cookie(
            COOKIE,
            state,
            max_age=int(STATE_TTL),
            path="/",  # `/` hands out states too: it must see this one to reuse it
            httponly=True,
            samesite="Lax",  # sent on GitHub's top-level redirect back
            secure=self._base_url(request).startswith("https://"),
        )

    def offer(self, request: web.Request) -> tuple[str, str | None]:
        """The "Register GitHub App" section of `/` and the state it carries;
        for anyone but the operator, only how the operator registers."""
        if not self.gate.may_register(request):
            return pages.locked_section(), None
        try:
            manifest = self._manifest(request)
        except ManifestError as exc:
            return pages.cannot_offer(str(exc)), None
        state = self._state_for(request)
        action = new_app_url(self.runtime.settings.github_web_url, state)
        hook_url = manifest["hook_attributes"]["url"]
        if self.runtime.settings.webhook_proxy_url:
            hook_url = "the webhook proxy channel (WEBHOOK_PROXY_URL)"
        return pages.offer_section(action, manifest, hook_url), state

    async def organization(self, request: web.Request) -> web.Response:
        if self.runtime.github.configured:
            return self._already_registered()
        if not self.gate.may_register(request):
            return self._not_operator()
        org = request.query.get("org", "").strip()
        if not valid_org(org):
            return _html(
                pages.problem(
                    "Not an organization name",
                    "An organization's name has letters, digits and single hyphens, "
                    "at most 39 characters.",
                    "Go back to the status page and type the organization's login.",
                ),
                400,
            )
        try:
            manifest = self._manifest(request)
        except ManifestError as exc:
            todo = "Set PUBLIC_URL, and run the server where app.yml is."
            return _html(pages.problem("Cannot offer registration", str(exc), todo), 500)
        state = self._state_for(request)
        action = new_app_url(self.runtime.settings.github_web_url, state, org)
        response = _html(pages.organization_page(org, action, manifest))
        self.bind_state(request, response, state)
        return response

    # ------------------------------------------------------------ the callback

    def _already_registered(self) -> web.Response:
        return _html(
            pages.problem(
                "GitHub App already registered",
                "This server already has a GitHub App; it registers no second one.",
                "Use the status page. To register a new App, remove the GITHUB_APP_* "
                "lines from .env and restart the server.",
            ),
            409,
        )

    async def callback(self, request: web.Request) -> web.Response:
        if self.runtime.github.configured:
            return self._already_registered()
        if not self.gate.may_register(request):
            return self._not_operator()
        code = request.query.get("code", "")
        state = request.query.get("state", "")
        if not code or not state or len(code) > 200:
            return _html(
                pages.problem(
                    "Registration incomplete",
                    "GitHub's answer is missing its code or state.",
                    "Start again from the status page and click Register GitHub App.",
                ),
                400,
            )
        cookie = request.cookies.get(COOKIE, "")
        ours = secrets.compare_digest(cookie.encode(), state.encode())
        if not ours or not self._pending(state):
            return _html(
                pages.problem(
                    "Registration not recognised",
                    "This answer from GitHub does not match a registration started in this "
                    "browser, or it was used already (a reload, or another tab).",
                    "Start again from the status page in this browser. If GitHub created an "
                    "App anyway, delete it in GitHub's Developer settings first.",
                ),
                403,
            )
        env_file = self.runtime.settings.env_file
        try:
            await asyncio.to_thread(check_writable, env_file)
        except EnvFileError as exc:
            return self._write_failed(str(exc), spent=False)
        async with self._lock:
            if self.runtime.github.configured:
                return self._already_registered()
            if not self._pending(state):
                return self.callback_replayed()
            self._used[state] = True
            return await self._exchange(code, env_file, state)

    def callback_replayed(self) -> web.Response:
        return _html(
            pages.problem(
                "Registration already handled",
                "This answer from GitHub was used already.",
                "Open the status page.",
            ),
            409,
        )

    async def _exchange(self, code: str, env_file: Path, state: str) -> web.Response:
        client = self.runtime.github.app_client()
        try:
            answer = await client.post(urls.manifest_conversion(code), data=b"")
        except gidgethub.BadRequest as exc:
            log.warning("GitHub refused the manifest code (HTTP %s)", exc.status_code)
            return _html(
                pages.problem(
                    "GitHub refused the registration code",
                    f"GitHub answered {int(exc.status_code)}: the code is unknown, older "
                    "than an hour, or was used already.",
                    "Start again from the status page. If GitHub created an App anyway, "
                    "delete it in GitHub's Developer settings first.",
                ),
                400,
            )
        except (gidgethub.GitHubException, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not reach GitHub for the manifest code: %s", type(exc).__name__)
            self._used.pop(state, None)  # the page says to reload: the state must still hold
            return _html(
                pages.problem(
                    "GitHub did not answer",
                    "GitHub could not be reached to finish the registration.",
                    "Reload this page in a minute (the code stays valid for an hour); check "
                    "GITHUB_API_URL if it keeps failing.",
                ),
                502,
            )
        try:
            creds = parse_conversion(answer)
        except ValueError as exc:
            return _html(
                pages.problem(
                    "GitHub's answer was not usable",
                    f"Registration failed: {exc}.",
                    "Delete the new App in GitHub's Developer settings, then start again.",
                ),
                502,
            )
        try:
            await asyncio.to_thread(
                write_env, env_file, creds.env(), heading="GitHub App registered from app.yml"
            )
        except EnvFileError as exc:
            log.error("GitHub App %s registered but not saved: %s", creds.slug, exc)
            return self._write_failed(str(exc), spent=True, html_url=creds.html_url)
        self.apply(creds)
        log.info(
            "GitHub App %s (id %d) registered; credentials written to %s",
            creds.slug,
            creds.app_id,
            env_file,
        )
        overridden = [k for k in ENV_KEYS if self.environ.get(k)]
        return _html(
            pages.registered(creds.name, creds.slug, creds.html_url, str(env_file), overridden)
        )

    def _write_failed(self, reason: str, *, spent: bool, html_url: str = "") -> web.Response:
        if not spent:
            todo = (
                "Make the file (and its folder) writable by the user this server runs as, "
                "then reload this page: GitHub's code stays valid for an hour."
            )
        else:
            todo = (
                "The App exists on GitHub but its credentials are lost. Fix the file, then "
                f"delete the App ({html_url or 'GitHub Developer settings'}) and register again."
            )
        return _html(pages.problem("Cannot write the credentials", reason + ".", todo), 500)

    def apply(self, creds: Credentials) -> None:
        """Switch this process to the new App: the intake's secret, the GitHub
        client's identity, the settings the pages read, the log redactor; the
        set-up token stops working."""
        self.gate.close()
        redactor.secrets = tuple(
            sorted(
                {*redactor.secrets, creds.pem, creds.client_secret, creds.webhook_secret or ""}
                - {""},
                key=len,
                reverse=True,
            )
        )
        self.set_webhook_secret(creds.webhook_secret)
        self.runtime.github.reconfigure(
            app_id=creds.app_id, private_key=creds.pem, app_slug=creds.slug
        )
        self.runtime.settings = dataclasses.replace(
            self.runtime.settings,
            github_app_id=creds.app_id,
            github_private_key=creds.pem,
            github_app_slug=creds.slug,
            github_webhook_secret=creds.webhook_secret,
            github_client_id=creds.client_id,
            github_client_secret=creds.client_secret,
        )

    # ------------------------------------------------------------ after install

    async def installed(self, request: web.Request) -> web.Response:
        raw = request.query.get("installation_id", "")
        if not raw.isdigit() or len(raw) > 18:
            return _html(
                pages.problem(
                    "No installation named",
                    "GitHub sends you here after an install with the installation's id.",
                    "Install the App from its page on GitHub.",
                ),
                400,
            )
        account, repos, unnamed = await installations.installed_on(self.runtime.pool, int(raw))
        settings = self.runtime.settings
        return _html(
            pages.installed(
                account, repos, settings.trigger_label, settings.github_web_url, unnamed
            )
        )
