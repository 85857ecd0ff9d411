"""Paths of GitHub's REST API, built in one place: callers name the resource,
never spell a URL, so a path GitHub changes (or a typo) is fixed once here."""

from __future__ import annotations

import re
from urllib.parse import quote

_MANIFEST_CODE = re.compile(r"/app-manifests/[^/?#]*")


def repo(repository: str) -> str:
    return f"/repos/{repository}"


def tree(repository: str, ref: str) -> str:
    return f"/repos/{repository}/git/trees/{ref}"


def languages(repository: str) -> str:
    return f"/repos/{repository}/languages"


def readme(repository: str) -> str:
    return f"/repos/{repository}/readme"


def contents(repository: str, path: str, ref: str | None = None) -> str:
    return f"/repos/{repository}/contents/{path}" + (f"?ref={ref}" if ref else "")


def labels(repository: str) -> str:
    return f"/repos/{repository}/labels"


def collaborator_permission(repository: str, login: str) -> str:
    return f"/repos/{repository}/collaborators/{login}/permission"


def issue(repository: str, number: int) -> str:
    """Also the base of the issue's reactions (`{issue}/reactions`)."""
    return f"/repos/{repository}/issues/{number}"


def issue_comments(repository: str, number: int) -> str:
    return f"/repos/{repository}/issues/{number}/comments"


def issue_comment(repository: str, comment_id: int) -> str:
    return f"/repos/{repository}/issues/comments/{comment_id}"


def review_comment(repository: str, comment_id: int) -> str:
    return f"/repos/{repository}/pulls/comments/{comment_id}"


def pull(repository: str, number: int) -> str:
    return f"/repos/{repository}/pulls/{number}"


def pull_files(repository: str, number: int) -> str:
    return f"/repos/{repository}/pulls/{number}/files?per_page=100"


def pull_reviews(repository: str, number: int) -> str:
    return f"/repos/{repository}/pulls/{number}/reviews"


def review_comments(repository: str, number: int, review_id: int) -> str:
    """The comments of one review, oldest first."""
    return f"/repos/{repository}/pulls/{number}/reviews/{review_id}/comments"


def pull_merge(repository: str, number: int) -> str:
    return f"/repos/{repository}/pulls/{number}/merge"


def branch(repository: str, name: str) -> str:
    """A branch, with what of its classic protection an App may see."""
    return f"/repos/{repository}/branches/{quote(name, safe='')}"


def branch_rules(repository: str, name: str) -> str:
    """The ruleset rules that apply to a branch (readable with `metadata`)."""
    return f"/repos/{repository}/rules/branches/{quote(name, safe='')}?per_page=100"


def check_runs(repository: str) -> str:
    return f"/repos/{repository}/check-runs"


def check_run(repository: str, check_run_id: int) -> str:
    return f"/repos/{repository}/check-runs/{check_run_id}"


def commit_check_runs(repository: str, sha: str, check_name: str | None = None) -> str:
    """All of a commit's check runs (every attempt, not only the latest), optionally one name's."""
    named = f"check_name={quote(check_name, safe='')}&" if check_name is not None else ""
    return f"/repos/{repository}/commits/{sha}/check-runs?{named}filter=all&per_page=100"


def commit_status(repository: str, sha: str) -> str:
    return f"/repos/{repository}/commits/{sha}/status?per_page=100"


def manifest_conversion(code: str) -> str:
    """Trades the manifest flow's one-time code for the new App's credentials."""
    return f"/app-manifests/{quote(code, safe='')}/conversions"


def hook_deliveries() -> str:
    """The App's webhook delivery log, newest first, 100 a page (the most
    GitHub serves); later pages follow the `Link` header's cursor."""
    return "/app/hook/deliveries?per_page=100"


def hook_redelivery(delivery_id: int) -> str:
    """Asks GitHub to deliver a delivery again (answered 202)."""
    return f"/app/hook/deliveries/{int(delivery_id)}/attempts"


def loggable(url: str) -> str:
    """`url` fit for a log line: no query, and no manifest code, which for its
    hour is as good as the new App's private key to whoever trades it first."""
    return _MANIFEST_CODE.sub("/app-manifests/[code]", url.split("?")[0])


def issues(repository: str) -> str:
    """Where an issue is opened (the REST API's tasks without an issue)."""
    return f"/repos/{repository}/issues"


def repo_installation(repository: str) -> str:
    """The App's installation on a repository (asked with the App's JWT)."""
    return f"/repos/{repository}/installation"


# The signed-in person's own view (a user access token, for the dashboard).
def authenticated_user() -> str:
    return "/user"


def user_installations() -> str:
    return "/user/installations?per_page=100"


def user_installation_repositories(installation_id: int) -> str:
    return f"/user/installations/{installation_id}/repositories?per_page=100"


# GitHub's web flow for a GitHub App's user authorization: paths on the web host.
OAUTH_AUTHORIZE = "/login/oauth/authorize"
OAUTH_ACCESS_TOKEN = "/login/oauth/access_token"  # noqa: S105 - a path


def issue_labels(repository: str, number: int) -> str:
    """An issue's (or pull request's) labels: POST adds to them."""
    return f"/repos/{repository}/issues/{number}/labels"


def requested_reviewers(repository: str, number: int) -> str:
    return f"/repos/{repository}/pulls/{number}/requested_reviewers"
