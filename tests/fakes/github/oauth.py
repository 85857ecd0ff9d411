"""GitHub's web flow for a GitHub App's user access tokens, and the endpoints a
user token reaches (`GET /user`, `/user/installations`,
`/user/installations/{id}/repositories`).

As GitHub documents it ("Generating a user access token for a GitHub App"):
`GET /login/oauth/authorize?client_id&redirect_uri&state` shows the signed-in
person (`fake.web_user`) an "Authorize" page; authorizing redirects to
`redirect_uri` with a one-time `code` (ten minutes) and the `state` as given.
`POST /login/oauth/access_token` (client_id, client_secret, code, redirect_uri)
answers 200 with an `error` for a wrong client (`incorrect_client_credentials`),
a redirect_uri that is not the one the code was made for
(`redirect_uri_mismatch`), or a code unknown, expired or used
(`bad_verification_code`); else a `ghu_` token (8 hours) with a refresh token.
The redirect_uri must be one of the App's callback URLs (or under one, same
host and port) when `oauth_callback_urls` is set or the App was registered
from a manifest with `callback_urls`.

A user token sees the installations of this App in which the person has
explicit access to a repository (a collaborator role, or owning it), and in
each only those repositories, with GitHub's `permissions` booleans."""

from __future__ import annotations

import copy
import html
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from tests.fakes.github.routing import Ctx, GitHubError, Reply, Route

CODE_SECONDS = 600
USER_TOKEN_SECONDS = 8 * 3600
ROLE_RANK = {"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


@dataclass
class _Code:
    login: str
    client_id: str
    redirect_uri: str
    expires_at: float


@dataclass
class _UserToken:
    login: str
    expires_at: float


class OAuthMixin:
    """The web flow and user-token endpoints (state lives on `FakeGitHub`)."""

    def _init_oauth(self) -> None:
        self.client_secret = secrets.token_hex(20)
        self.oauth_callback_urls: list[str] = []
        self.oauth_codes: dict[str, _Code] = {}
        self.spent_oauth_codes: set[str] = set()
        self.user_tokens: dict[str, _UserToken] = {}
        self.oauth_exchanges: list[dict[str, Any]] = []  # every exchange and its answer

    # ------------------------------------------------------------------ web pages

    def add_oauth_pages(self, router: web.UrlDispatcher) -> None:
        router.add_get("/login/oauth/authorize", self._web_authorize)
        router.add_post("/login/oauth/fake-authorize", self._web_authorized)
        router.add_post("/login/oauth/access_token", self._web_access_token)

    def _client_secrets(self, client_id: str) -> set[str]:
        found = {self.client_secret} if client_id == self.client_id else set()
        found |= {
            a["client_secret"] for a in self.manifest_apps.values() if a["client_id"] == client_id
        }
        return found

    def _callbacks(self, client_id: str) -> list[str]:
        """The App's callback URLs: set by a test, or from its registration manifest."""
        found = list(self.oauth_callback_urls)
        for created in self.manifest_apps.values():
            if created["client_id"] == client_id:
                found += created["manifest"].get("callback_urls") or []
        return found

    def _callback_ok(self, client_id: str, redirect_uri: str) -> bool:
        callbacks = self._callbacks(client_id)
        if not callbacks:
            return True
        wanted = urlsplit(redirect_uri)
        for allowed in callbacks:
            base = urlsplit(allowed)
            if (wanted.scheme, wanted.netloc) == (base.scheme, base.netloc) and (
                wanted.path == base.path or wanted.path.startswith(base.path.rstrip("/") + "/")
            ):
                return True
        return False

    async def _web_authorize(self, request: web.Request) -> web.Response:
        client_id = request.query.get("client_id", "")
        if not client_id or not self._client_secrets(client_id):
            return web.Response(status=404, text="Not Found")
        callbacks = self._callbacks(client_id)
        redirect_uri = request.query.get("redirect_uri") or (callbacks[0] if callbacks else "")
        if not redirect_uri or not self._callback_ok(client_id, redirect_uri):
            return web.Response(
                text="The redirect_uri MUST match the registered callback URL for this "
                "application.",
                status=400,
            )
        esc = html.escape
        page = (
            "<!doctype html><html><head><title>Authorize</title></head><body>"
            f"<h1>Authorize {esc(self.app_name)}</h1>"
            f"<p>Signed in as <strong id='web-user'>{esc(self.web_user)}</strong></p>"
            '<form method="post" action="/login/oauth/fake-authorize">'
            f'<input type="hidden" name="client_id" value="{esc(client_id)}">'
            f'<input type="hidden" name="redirect_uri" value="{esc(redirect_uri)}">'
            f'<input type="hidden" name="state" value="{esc(request.query.get("state", ""))}">'
            f'<button id="authorize" type="submit">Authorize {esc(self.app_name)}</button>'
            "</form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _web_authorized(self, request: web.Request) -> web.Response:
        form = await request.post()
        redirect_uri = str(form["redirect_uri"])
        code = secrets.token_hex(10)
        self.oauth_codes[code] = _Code(
            self.web_user, str(form["client_id"]), redirect_uri, time.time() + CODE_SECONDS
        )
        query = {"code": code}
        if form.get("state"):
            query["state"] = str(form["state"])
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(query)}")

    async def _web_access_token(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            params = {k: str(v) for k, v in (await request.json()).items()}
        else:
            params = {k: str(v) for k, v in (await request.post()).items()}
        params.update({k: v for k, v in request.query.items() if k not in params})
        answer = self._exchange(params)
        self.oauth_exchanges.append({"params": params, "answer": answer})
        if "json" in request.headers.get("Accept", ""):
            return web.json_response(answer)
        return web.Response(
            text=urlencode(answer), content_type="application/x-www-form-urlencoded"
        )

    def _exchange(self, params: dict[str, str]) -> dict[str, Any]:
        docs = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
        client_id, code = params.get("client_id", ""), params.get("code", "")
        if params.get("client_secret") not in self._client_secrets(client_id):
            return {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or client_secret passed are incorrect.",
                "error_uri": f"{docs}#incorrect-client-credentials",
            }
        made = self.oauth_codes.get(code)
        if (
            made is None
            or code in self.spent_oauth_codes
            or made.expires_at <= time.time()
            or made.client_id != client_id
        ):
            return {
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
                "error_uri": f"{docs}#bad-verification-code",
            }
        if params.get("redirect_uri") and params["redirect_uri"] != made.redirect_uri:
            return {
                "error": "redirect_uri_mismatch",
                "error_description": "The redirect_uri MUST match the registered callback URL "
                "for this application.",
                "error_uri": f"{docs}#redirect-uri-mismatch2",
            }
        self.spent_oauth_codes.add(code)
        token = "ghu_" + secrets.token_hex(18)
        self.user_tokens[token] = _UserToken(made.login, time.time() + USER_TOKEN_SECONDS)
        return {
            "access_token": token,
            "expires_in": USER_TOKEN_SECONDS,
            "refresh_token": "ghr_" + secrets.token_hex(30),
            "refresh_token_expires_in": 15897600,
            "scope": "",
            "token_type": "bearer",
        }

    # ------------------------------------------------------------------ user API

    def _oauth_routes(self) -> list[Route]:
        return [
            Route("GET", "/user", self._get_authenticated_user, auth="none"),
            Route("GET", "/user/installations", self._list_user_installations, auth="none"),
            Route(
                "GET",
                "/user/installations/{installation_id}/repositories",
                self._list_user_installation_repos,
                auth="none",
            ),
        ]

    def _user_of(self, ctx: Ctx) -> str:
        scheme, _, cred = ctx.request.headers.get("Authorization", "").strip().partition(" ")
        token = self.user_tokens.get(cred.strip())
        if scheme.lower() not in ("token", "bearer") or token is None:
            raise GitHubError(401, "Bad credentials")
        if token.expires_at <= time.time():
            raise GitHubError(401, "Bad credentials")
        return token.login

    def role_of(self, full_name: str, login: str) -> str | None:
        """The person's explicit role on a repository (owner: admin), None without one."""
        role = self.collaborators.get(full_name, {}).get(login.lower())
        if role is None and self.repos[full_name]["owner"]["login"].lower() == login.lower():
            role = "admin"
        return role

    def _visible_repos(self, installation_id: int, login: str) -> list[str]:
        return sorted(
            full
            for full in self.installation_repos.get(installation_id, set())
            if self.role_of(full, login) is not None
        )

    def _get_authenticated_user(self, ctx: Ctx) -> Reply:
        return 200, self.user(self._user_of(ctx))

    def _list_user_installations(self, ctx: Ctx) -> Reply:
        login = self._user_of(ctx)
        found = [
            copy.deepcopy(inst)
            for inst_id, inst in sorted(self.installations.items())
            if self._visible_repos(inst_id, login)
        ]
        page, headers = self._paginate(ctx, found)
        return 200, {"total_count": len(found), "installations": page}, headers

    def _list_user_installation_repos(self, ctx: Ctx) -> Reply:
        login = self._user_of(ctx)
        installation_id = ctx.int_param("installation_id")
        visible = self._visible_repos(installation_id, login)
        if installation_id not in self.installations or not visible:
            raise GitHubError(404, "Not Found")
        repos = []
        for full in visible:
            rank = ROLE_RANK[str(self.role_of(full, login))]
            repo = copy.deepcopy(self.repos[full])
            repo["permissions"] = {
                "admin": rank >= 5,
                "maintain": rank >= 4,
                "push": rank >= 3,
                "triage": rank >= 2,
                "pull": rank >= 1,
            }
            repos.append(repo)
        page, headers = self._paginate(ctx, repos)
        return (
            200,
            {
                "total_count": len(repos),
                "repository_selection": self.installations[installation_id]["repository_selection"],
                "repositories": page,
            },
            headers,
        )
