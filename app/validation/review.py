"""The one pull-request review a validated commit gets, with inline comments on
lines not commented on before."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import BadRequest

from app.github import urls
from app.github.client import GitHubClient
from app.github.comments import marker, with_marker
from app.pull_requests import store as pull_requests
from app.pull_requests.store import PullRequest
from app.repo_settings.config import RepoConfig
from app.runtime import Runtime
from app.validation import ci
from app.validation import report as check_report
from app.validation import store as validations
from app.validation.store import Validation

log = logging.getLogger(__name__)


async def review(
    runtime: Runtime,
    gh: GitHubClient,
    pr: PullRequest,
    validation: Validation,
    verdict: str,
    findings: list[dict[str, Any]],
    state: ci.CiState,
    config: RepoConfig,
    *,
    first: bool = False,
) -> None:
    """One review per validated commit, inline comments on lines not commented
    on before; found again (by its marker) if an earlier try posted it. `first`:
    no earlier try can have posted it, so the PR's reviews are not listed."""
    if validation.review_id is not None:
        return
    key = f"validation:{validation.id}"
    existing = None if first else await _posted_before(runtime, gh, pr, key)
    fresh = await pull_requests.get(runtime.pool, pr.id)
    assert fresh is not None
    inline = check_report.inline_comments(findings, fresh.commented)
    if existing is None:
        event = (
            "REQUEST_CHANGES"
            if verdict == "failure" and config.validation.request_changes
            else "COMMENT"
        )
        body = with_marker(key, check_report.review_body(verdict, findings, state, len(inline)))
        data = {
            "commit_id": validation.head_sha,
            "body": body,
            "event": event,
            "comments": [comment for _, comment in inline],
        }
        try:
            existing = await gh.post(urls.pull_reviews(pr.repository, pr.number), data=data)
        except BadRequest as exc:
            if exc.status_code != 422 or not inline:
                raise
            # A line GitHub cannot place (the diff moved): keep the review, list the rest.
            log.warning("review comments refused (%s); posting the review without them", exc)
            listed = "\n".join(f"- `{c['path']}` line {c['line']}: {c['body']}" for _, c in inline)
            data.update(comments=[], body=with_marker(key, f"{body}\n\n{listed}"))
            existing = await gh.post(urls.pull_reviews(pr.repository, pr.number), data=data)
    await validations.update(runtime.pool, validation.id, review_id=existing["id"])
    await pull_requests.add_commented(runtime.pool, pr.id, [f["fingerprint"] for f, _ in inline])


async def _posted_before(
    runtime: Runtime, gh: GitHubClient, pr: PullRequest, key: str
) -> dict[str, Any] | None:
    """The bot's review with this marker, if an earlier try posted it."""
    bot = await runtime.github.bot_login()
    async for review in gh.getiter(urls.pull_reviews(pr.repository, pr.number) + "?per_page=100"):
        if (review.get("user") or {}).get("login") == bot and marker(key) in (
            review.get("body") or ""
        ):
            return review
    return None
