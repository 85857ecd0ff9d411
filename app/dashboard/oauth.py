"""Sign-in with GitHub through the App's user authorization (the web flow): send
the browser to GitHub with the App's client id and a state bound to it, trade
the code GitHub hands back (with the client secret) for a user access token,
then ask GitHub, as that person, who they are and which repositories of the
App's installations they can write to. The token is used for those calls only
and never stored or logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from app.github import urls
from app.github.client import GitHubClient

log = logging.getLogger(__name__)

WRITE_PERMISSIONS = ("admin", "maintain", "push")  # GitHub's names for write and above
MAX_REPOSITORIES = 5000


class SignInError(Exception):
    """GitHub refused or failed the sign-in; the message is for the person."""


@dataclass(frozen=True)
class SignedIn:
    login: str
    repositories: tuple[str, ...]  # owner/name the person can write to


def authorize_url(web_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
    return f"{web_url.rstrip('/')}{urls.OAUTH_AUTHORIZE}?{query}"


def writable(repository: dict[str, Any]) -> bool:
    """GitHub's `permissions` of a repository as the user sees it: write or more."""
    granted = repository.get("permissions") or {}
    return any(granted.get(name) is True for name in WRITE_PERMISSIONS)


async def exchange_code(
    session: aiohttp.ClientSession,
    web_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
) -> str:
    """The user access token for a one-time code."""
    try:
        async with session.post(
            f"{web_url.rstrip('/')}{urls.OAUTH_ACCESS_TOKEN}",
            data={
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
            },
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=20),
        ) as response:
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("GitHub sign-in: the code exchange failed (%s)", exc.__class__.__name__)
        raise SignInError("GitHub did not answer the sign-in; try again in a minute.") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        error = answer.get("error") if isinstance(answer, dict) else None
        log.info("GitHub sign-in refused: %s", error)
        raise SignInError("GitHub refused the sign-in code (expired or used); sign in again.")
    return answer["access_token"]


async def who_and_where(session: aiohttp.ClientSession, api_url: str, token: str) -> SignedIn:
    """The person's login and the repositories, among the App's installations
    they can see, that they can write to."""
    gh = GitHubClient(session, base_url=api_url, oauth_token=token, max_attempts=2)
    try:
        user = await gh.getitem(urls.authenticated_user())
        repositories: list[str] = []
        async for installation in gh.getiter(
            urls.user_installations(), iterable_key="installations"
        ):
            async for repository in gh.getiter(
                urls.user_installation_repositories(int(installation["id"])),
                iterable_key="repositories",
            ):
                if writable(repository):
                    repositories.append(str(repository["full_name"]))
                if len(repositories) >= MAX_REPOSITORIES:
                    break
    except Exception as exc:  # any failure: the person is not signed in
        log.warning("GitHub sign-in: reading the user failed (%s)", exc.__class__.__name__)
        raise SignInError("GitHub did not say who you are; sign in again.") from None
    return SignedIn(str(user["login"]), tuple(repositories))
