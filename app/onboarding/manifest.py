"""The GitHub App manifest: `app.yml` plus this deployment's own URLs. Pure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from app.web.intake import WEBHOOK_PATH

APP_YML = Path(__file__).resolve().parent.parent.parent / "app.yml"

CALLBACK_PATH = "/setup/callback"
# Where GitHub sends a person back after signing in to the dashboard (the App's
# user authorization: its callback URL must be registered).
SIGN_IN_CALLBACK_PATH = "/login/callback"
INSTALLED_PATH = "/setup/installed"
# GitHub's rule for an organization's login: letters, digits and single hyphens,
# not at either end, at most 39 characters.
_ORG_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$")


class ManifestError(ValueError):
    """`app.yml` cannot be turned into a manifest; `str()` says why."""


def load_app_yml(path: Path | None = None) -> dict[str, Any]:
    """app.yml from the checkout, else from the working directory (an installed
    package does not carry it)."""
    candidates = [path] if path is not None else [APP_YML, Path.cwd() / "app.yml"]
    for candidate in candidates:
        try:
            text = candidate.read_text()
        except OSError:
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ManifestError(f"{candidate.name} is not valid YAML") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{candidate.name} is not a mapping")
        return data
    raise ManifestError("app.yml not found (run the server from the checkout)")


def public_base_url(
    configured: str | None,
    *,
    scheme: str,
    host: str | None,
    forwarded_proto: str | None = None,
    forwarded_host: str | None = None,
) -> str:
    """This server's URL as GitHub and a browser see it: `PUBLIC_URL` when set,
    else the first `X-Forwarded-Proto`/`-Host` a proxy added, else the request's
    own scheme and Host. A Host that is not a plain host[:port] is refused, so
    a crafted header cannot point GitHub's webhooks somewhere odd."""
    if configured:
        return configured.rstrip("/")
    proto = (forwarded_proto or "").split(",")[0].strip().lower() or scheme
    chosen = (forwarded_host or "").split(",")[0].strip() or (host or "").strip()
    if proto not in ("http", "https"):
        raise ManifestError(f"unexpected scheme {proto!r}; set PUBLIC_URL")
    if not chosen or not _HOST.match(chosen):
        raise ManifestError("the request names no usable host; set PUBLIC_URL")
    return f"{proto}://{chosen}"


def build_manifest(app_yml: dict[str, Any], base_url: str) -> dict[str, Any]:
    """app.yml with the webhook, redirect and setup URLs of `base_url`.

    Only the keys GitHub's manifest accepts are sent; everything else in
    app.yml (comments aside) is refused rather than silently dropped."""
    allowed = {
        "name",
        "url",
        "description",
        "hook_attributes",
        "public",
        "default_events",
        "default_permissions",
        "callback_urls",
        "request_oauth_on_install",
        "setup_on_update",
    }
    unknown = sorted(set(app_yml) - allowed - {"redirect_url", "setup_url"})
    if unknown:
        raise ManifestError(f"app.yml has keys a manifest does not take: {', '.join(unknown)}")
    for key in ("name", "url"):
        if not isinstance(app_yml.get(key), str) or not app_yml[key].strip():
            raise ManifestError(f"app.yml needs a `{key}`")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ManifestError(f"not an http(s) URL: {base_url!r}")
    base = base_url.rstrip("/")
    manifest = {k: v for k, v in app_yml.items() if k in allowed}
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = base + WEBHOOK_PATH
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = base + CALLBACK_PATH
    manifest["setup_url"] = base + INSTALLED_PATH
    manifest.setdefault("callback_urls", [base + SIGN_IN_CALLBACK_PATH])
    manifest.setdefault("setup_on_update", True)
    return manifest


def valid_org(login: str) -> bool:
    return bool(_ORG_LOGIN.match(login))


def new_app_url(web_url: str, state: str, org: str | None = None) -> str:
    """Where the manifest form posts: a personal account's or an organization's
    "new GitHub App" page, with `state` for the callback to check."""
    base = web_url.rstrip("/")
    if org is None:
        path = "/settings/apps/new"
    elif valid_org(org):
        path = f"/organizations/{quote(org)}/settings/apps/new"
    else:
        raise ManifestError(f"not an organization name: {org[:40]!r}")
    return f"{base}{path}?state={quote(state)}"
