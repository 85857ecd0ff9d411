"""GitHub's GraphQL API, the few operations the bot sends: the texts of the
queries (checked against GitHub's published schema by the fake GitHub in the
tests), where the endpoint is, and GitHub's error messages read from an answer.

REST paths live in urls.py; GraphQL has one endpoint and the operation is in
the body. A GraphQL POST is a write for pacing like any other POST."""

from __future__ import annotations

from typing import Any

# Auto-merge at the validated commit: `expectedHeadOid` makes GitHub refuse
# when the head is no longer the commit the bot validated.
ENABLE_AUTO_MERGE = """
mutation EnableAutoMerge(
  $pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!
) {
  enablePullRequestAutoMerge(input: {
    pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid
  }) {
    pullRequest { number autoMergeRequest { mergeMethod enabledAt } }
  }
}
"""

# Into the merge queue now (its requirements met), at the validated commit.
ENQUEUE = """
mutation Enqueue($pullRequestId: ID!, $expectedHeadOid: GitObjectID!) {
  enqueuePullRequest(input: {pullRequestId: $pullRequestId, expectedHeadOid: $expectedHeadOid}) {
    mergeQueueEntry { position state }
  }
}
"""

# GitHub keeps auto-merge on across a push by someone with write access: the
# bot turns it off when the head moves past what it validated.
DISABLE_AUTO_MERGE = """
mutation DisableAutoMerge($pullRequestId: ID!) {
  disablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId}) {
    pullRequest { number }
  }
}
"""


def endpoint(api_url: str) -> str:
    """The GraphQL endpoint beside a REST base URL: api.github.com/graphql, and
    /api/graphql on GitHub Enterprise Server (whose REST base is /api/v3)."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def error_messages(response: Any) -> list[str]:
    """The `message` of each error in a GraphQL answer (gidgethub's QueryError
    carries the answer as `.response`)."""
    errors = response.get("errors") if isinstance(response, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)]


def error_types(response: Any) -> set[str]:
    """GitHub's `type` of each error (FORBIDDEN, NOT_FOUND, UNPROCESSABLE, ...)."""
    errors = response.get("errors") if isinstance(response, dict) else None
    if not isinstance(errors, list):
        return set()
    return {str(e.get("type")) for e in errors if isinstance(e, dict) and e.get("type")}
