"""The App itself (`GET /app`), users, installations and installation tokens."""

from __future__ import annotations

import copy
import html
import json
import re
import secrets
import zlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from jsonschema import Draft202012Validator

from tests.fakes.github.contract import _TOKEN_ALPHABET, PERMISSION_LEVELS, WEB, openapi_operations
from tests.fakes.github.routing import Ctx, GitHubError, Reply, _Token
from tests.fakes.github.util import _iso, _node_id


class AppsMixin:
    """The App, users, installations and tokens (the state lives on `FakeGitHub`)."""

    def add_user(
        self, login: str, *, user_id: int | None = None, user_type: str = "User"
    ) -> dict[str, Any]:
        key = login.lower()
        if key in self.users and user_id is None:
            return self.users[key]
        if user_id is None:
            user_id = 10_000_000 + zlib.crc32(key.encode()) % 90_000_000
        api = f"{self.url}/users/{quote(login)}"
        user = {
            "login": login,
            "id": user_id,
            "node_id": _node_id("User" if user_type != "Bot" else "Bot", user_id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{WEB}/{quote(login)}"
            if user_type != "Bot"
            else f"{WEB}/apps/{login.removesuffix('[bot]')}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user_type,
            "site_admin": False,
        }
        self.users[key] = user
        return user

    def user(self, login: str) -> dict[str, Any]:
        key = login.lower()
        if key not in self.users and key == self.bot_login.lower():
            return self.bot_user()
        if key not in self.users:
            self.add_user(login, user_type="Bot" if key.endswith("[bot]") else "User")
        return copy.deepcopy(self.users[key])

    def bot_user(self) -> dict[str, Any]:
        if self.bot_login.lower() not in self.users:
            self.add_user(self.bot_login, user_id=100_000_000 + self.app_id, user_type="Bot")
        return self.user(self.bot_login)

    def app_object(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "client_id": self.client_id,
            "node_id": _node_id("Integration", self.app_id),
            "owner": self.user(self.app_owner) | {"type": "Organization"},
            "name": self.app_name,
            "description": "",
            "external_url": f"https://{self.app_slug}.example.invalid",
            "html_url": f"{WEB}/apps/{self.app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": dict(self.app_permissions),
            "events": list(self.app_events),
            "installations_count": len(self.installations),
        }

    def add_installation(
        self,
        installation_id: int,
        *,
        account: str = "octo-org",
        account_type: str = "Organization",
        permissions: dict[str, str] | None = None,
        repository_selection: str = "all",
        suspended: bool = False,
    ) -> dict[str, Any]:
        owner = self.user(account) | {"type": account_type}
        inst = {
            "id": installation_id,
            "account": owner,
            "repository_selection": repository_selection,
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{WEB}/organizations/{account}/settings/installations/{installation_id}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": owner["id"],
            "target_type": account_type,
            "permissions": dict(permissions if permissions is not None else self.app_permissions),
            "events": list(self.app_events),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }
        self.installations[installation_id] = inst
        self.installation_repos.setdefault(installation_id, set())
        if suspended:
            self.suspend_installation(installation_id)
        return inst

    def suspend_installation(self, installation_id: int, suspended: bool = True) -> None:
        inst = self.installations[installation_id]
        inst["suspended_at"] = _iso() if suspended else None
        inst["suspended_by"] = self.user(inst["account"]["login"]) if suspended else None

    def remove_installation(self, installation_id: int) -> None:
        """Uninstall: the installation disappears and its tokens stop working."""
        self.installations.pop(installation_id, None)
        for full in self.installation_repos.pop(installation_id, set()):
            self._repo_installation.pop(full, None)
        for key in [k for k, t in self._tokens.items() if t.installation_id == installation_id]:
            del self._tokens[key]

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Make issued installation tokens expired (GitHub then answers 401)."""
        for tok in self._tokens.values():
            if installation_id in (None, tok.installation_id):
                tok.expires_at = 0

    def issue_token(
        self,
        installation_id: int,
        *,
        ttl: float | None = None,
        repositories: Iterable[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """Mint an installation token directly (no HTTP), e.g. for tests that call repo
        endpoints themselves."""
        inst = self.installations[installation_id]
        token = "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        self._tokens[token] = _Token(
            token,
            installation_id,
            self.clock() + (self.token_ttl if ttl is None else ttl),
            dict(permissions if permissions is not None else inst["permissions"]),
            None if repositories is None else {self._canonical(r) for r in repositories},
        )
        self.tokens_issued.append(token)
        return token

    def _get_app(self, ctx: Ctx) -> Reply:
        return 200, self.app_object()

    def _installation_or_404(self, ctx: Ctx) -> dict[str, Any]:
        inst = self.installations.get(ctx.int_param("installation_id"))
        if inst is None:
            raise GitHubError(404, "Not Found")
        return inst

    def _get_installation(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(self._installation_or_404(ctx))

    def _get_repo_installation(self, ctx: Ctx) -> Reply:
        """`GET /repos/{owner}/{repo}/installation`: the App's installation there (JWT)."""
        full = self._repo_index.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
        if full is None or full not in self._repo_installation:
            raise GitHubError(404, "Not Found")
        return 200, copy.deepcopy(self.installations[self._repo_installation[full]])

    def _create_token(self, ctx: Ctx) -> Reply:
        inst = self._installation_or_404(ctx)
        if inst["suspended_at"]:
            raise GitHubError(403, "This installation has been suspended")
        body = ctx.body or {}
        inst_repos = self.installation_repos[inst["id"]]
        selected: set[str] | None = None
        if body.get("repositories") or body.get("repository_ids"):
            selected = set()
            by_name = {self.repos[f]["name"].lower(): f for f in inst_repos}
            by_id = {self.repos[f]["id"]: f for f in inst_repos}
            for name in body.get("repositories") or []:
                if name.lower() not in by_name:
                    raise GitHubError(
                        422,
                        "There is at least one repository that does not "
                        "exist or is not accessible to the parent installation.",
                    )
                selected.add(by_name[name.lower()])
            for rid in body.get("repository_ids") or []:
                if rid not in by_id:
                    raise GitHubError(
                        422,
                        "There is at least one repository that does not "
                        "exist or is not accessible to the parent installation.",
                    )
                selected.add(by_id[rid])
        permissions = dict(inst["permissions"])
        if body.get("permissions"):
            for scope, level in body["permissions"].items():
                have = inst["permissions"].get(scope, "none")
                if PERMISSION_LEVELS.get(level, 99) > PERMISSION_LEVELS[have]:
                    raise GitHubError(
                        422, "The permissions requested are not granted to this installation."
                    )
            permissions = dict(body["permissions"])
        token = self.issue_token(inst["id"], permissions=permissions, repositories=selected)
        expires_at = self._tokens[token].expires_at
        answer = {
            "token": token,
            "expires_at": _iso(expires_at),
            "permissions": permissions,
            "repository_selection": "selected"
            if selected is not None
            else inst["repository_selection"],
        }
        if selected is not None:
            answer["repositories"] = [copy.deepcopy(self.repos[f]) for f in sorted(selected)]
        return 201, answer

    # ------------------------------------------------------------------ manifest flow

    async def _web_new_app(self, request: web.Request) -> web.Response:
        """GitHub's "Create GitHub App" page for a posted manifest: checks it as
        GitHub does (a JSON object with `url` and `hook_attributes.url`), shows
        the name and a button; `state` travels on to the redirect."""
        form = await request.post()
        org = request.match_info.get("org")
        state = request.query.get("state", "")
        try:
            manifest = json.loads(str(form.get("manifest", "")))
        except ValueError:
            manifest = None
        ok = (
            isinstance(manifest, dict)
            and isinstance(manifest.get("url"), str)
            and isinstance(manifest.get("hook_attributes"), dict)
            and isinstance(manifest["hook_attributes"].get("url"), str)
        )
        if not ok:
            return web.Response(status=422, text="Invalid GitHub App manifest")
        assert isinstance(manifest, dict)
        self.manifests.append({"manifest": manifest, "state": state, "org": org})
        owner = org or self.web_user
        esc = html.escape
        page = (
            "<!doctype html><html><head><title>Create GitHub App</title></head><body>"
            f"<h1>Create GitHub App for {esc(owner)}</h1>"
            f"<p>GitHub App name: <strong>{esc(str(manifest.get('name', '')))}</strong></p>"
            f"<p>Webhook URL: {esc(manifest['hook_attributes']['url'])}</p>"
            '<form method="post" action="/settings/apps/fake-create">'
            f'<input type="hidden" name="index" value="{len(self.manifests) - 1}">'
            f'<button id="create" type="submit">Create GitHub App for {esc(owner)}</button>'
            "</form></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _web_create_app(self, request: web.Request) -> web.Response:
        """The button: the App exists, GitHub redirects to `redirect_url` with a
        one-time `code` and the `state` it was given."""
        form = await request.post()
        posted = self.manifests[int(str(form["index"]))]
        manifest = posted["manifest"]
        code = secrets.token_hex(10)
        self.manifest_apps[code] = self._new_manifest_app(manifest, posted["org"])
        target = manifest.get("redirect_url") or manifest["url"]
        query = urlencode({"code": code, "state": posted["state"]})
        raise web.HTTPFound(f"{target}{'&' if '?' in target else '?'}{query}")

    def _new_manifest_app(self, manifest: dict[str, Any], org: str | None) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        app_id = self._next_id("app", 900_000)
        name = str(manifest.get("name") or "my-app")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"
        return {
            "id": app_id,
            "slug": slug,
            "name": name,
            "owner": org or self.web_user,
            "manifest": manifest,
            "pem": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode(),
            "public_pem": key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "webhook_secret": secrets.token_hex(20),
            "client_id": f"Iv23li{secrets.token_hex(7)}",
            "client_secret": secrets.token_hex(20),
        }

    def _convert_manifest(self, ctx: Ctx) -> Reply:
        """`POST /app-manifests/{code}/conversions`: no authentication, each code
        once; from then on this fake is that App (its id, key and slug)."""
        code = ctx.params["code"]
        created = self.manifest_apps.get(code)
        if created is None or code in self.spent_manifest_codes:
            raise GitHubError(404, "Not Found")
        self.spent_manifest_codes.add(code)
        self.app_id = created["id"]
        self.public_key_pem = created["public_pem"]
        self.app_slug = created["slug"]
        self.app_name = created["name"]
        self.client_id = created["client_id"]
        self.bot_login = f"{created['slug']}[bot]"
        self.app_owner = created["owner"]
        self.add_user(self.app_owner)
        hook = created["manifest"].get("hook_attributes") or {}
        self.app_permissions = dict(created["manifest"].get("default_permissions") or {})
        self.app_events = list(created["manifest"].get("default_events") or [])
        answer = self.app_object() | {
            "external_url": created["manifest"].get("url"),
            "description": created["manifest"].get("description"),
            "client_secret": created["client_secret"],
            "webhook_secret": created["webhook_secret"] if hook.get("active", True) else None,
            "pem": created["pem"],
        }
        # the answer keeps to GitHub's published 201 schema (tests/data)
        op = openapi_operations()[("POST", "/app-manifests/{code}/conversions")]
        Draft202012Validator(op["response_schema"]).validate(answer)
        return op["response_status"], answer
