"""Comments the bot posts exactly once, however often a job is retried.

Each comment carries a hidden marker. Before posting, the issue's comments by
the bot are searched for it, so a job that crashed after GitHub accepted the
comment (and before we stored its id) finds it instead of posting again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from gidgethub import BadRequest

from app.db import advisory_lock
from app.github import urls
from app.github.client import GitHubClient

_PREFIX = "<!-- codegen-bot:"


@contextlib.asynccontextmanager
async def issue_lock(pool: asyncpg.Pool, repository: str, issue_number: int) -> AsyncIterator[None]:
    """One writer of bot comments per issue at a time, across processes: without it
    two jobs could both look for a marked comment, find none, and both post. The
    lock is PostgreSQL's, so a process that dies lets go of it."""
    async with advisory_lock(pool, issue_lock_key(repository, issue_number)):
        yield


def issue_lock_key(repository: str, issue_number: int) -> str:
    """The name of `issue_lock`'s lock, for a writer that only tries to take it."""
    return f"{repository.lower()}#{issue_number}"


def marker(key: str) -> str:
    return f"{_PREFIX}{key} -->"


def with_marker(key: str, body: str) -> str:
    return f"{body}\n\n{marker(key)}"


async def find_marked(
    gh: GitHubClient, repository: str, issue_number: int, key: str, bot_login: str
) -> dict | None:
    needle = marker(key)
    async for comment in gh.getiter(
        urls.issue_comments(repository, issue_number) + "{?per_page}", {"per_page": 100}
    ):
        if (comment.get("user") or {}).get("login") == bot_login and needle in (
            comment.get("body") or ""
        ):
            return comment
    return None


async def post_once(
    gh: GitHubClient, repository: str, issue_number: int, key: str, body: str, bot_login: str
) -> int:
    """Post the comment unless one with this key exists; returns its id."""
    existing = await find_marked(gh, repository, issue_number, key, bot_login)
    if existing is not None:
        return existing["id"]
    created = await gh.post(
        urls.issue_comments(repository, issue_number),
        data={"body": with_marker(key, body)},
    )
    return created["id"]


async def post(gh: GitHubClient, repository: str, issue_number: int, key: str, body: str) -> int:
    """Post a marked comment without searching for a copy: for a caller that knows
    none was ever posted (it recorded, before, that it was about to post)."""
    created = await gh.post(
        urls.issue_comments(repository, issue_number),
        data={"body": with_marker(key, body)},
    )
    return created["id"]


async def edit(gh: GitHubClient, repository: str, comment_id: int, key: str, body: str) -> bool:
    """Replace a marked comment's text; False when the comment is gone (deleted by a person)."""
    try:
        await gh.patch(
            urls.issue_comment(repository, comment_id),
            data={"body": with_marker(key, body)},
        )
    except BadRequest as exc:
        if exc.status_code == 404:
            return False
        raise
    return True


async def react(gh: GitHubClient, url_path: str, content: str) -> None:
    """Add a reaction; GitHub answers 200 instead of 201 when it is already there."""
    await gh.post(f"{url_path}/reactions", data={"content": content})
