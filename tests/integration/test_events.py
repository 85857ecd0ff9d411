"""tests/support/events.py: webhook payloads that keep every key of GitHub's own examples and
agree with what the fake GitHub answers about the same objects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub import sansio

from tests.fakes.github import FakeGitHub, webhook_example
from tests.fakes.keys import make_app_key
from tests.support.events import (
    check_run_event,
    check_suite_event,
    issue_comment_event,
    pull_request_event,
    review_comment_event,
    review_event,
    status_event,
    user_object,
)

APP_ID = 31337
INSTALLATION = 7
REPO = "octo-org/widgets"
PATCH = "@@ -1,3 +1,4 @@\n import os\n-x = 1\n+x = 2\n+y = 3\n print(x)"
FILES = [{"filename": "app.py", "patch": PATCH}]
EXAMPLE_LEFTOVERS = ("Codertocat", "Hello-World", "api.github.com", "octocoders", "electron")


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    _, public_pem = make_app_key()
    fake = FakeGitHub(app_id=APP_ID, public_key_pem=public_pem)
    await fake.start()
    fake.add_installation(INSTALLATION, account="octo-org")
    fake.add_repo(REPO, installation_id=INSTALLATION)
    fake.add_issue(REPO, 1, title="An issue", user="reporter")
    fake.add_pull(REPO, 2, title="A change", user="alice", head_ref="alice/change", files=FILES)
    yield fake
    await fake.close()
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
async def api(gh) -> AsyncIterator[Any]:
    """`await api(method, path, json=...)` with an installation token -> (status, body)."""
    token = gh.issue_token(INSTALLATION)
    headers = {
        "User-Agent": "codegen-bot-tests",
        "Accept": "application/vnd.github+json",
        "Authorization": f"token {token}",
    }
    async with aiohttp.ClientSession(headers=headers) as session:

        async def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
            async with session.request(method, gh.url + path, **kwargs) as resp:
                text = await resp.text()
                return resp.status, (json.loads(text) if text else None)

        yield call


def example_keys(event: str, action: str | None) -> set[str]:
    try:
        return set(webhook_example(event, action))
    except KeyError:
        return set(webhook_example(event))


def assert_keeps_keys(payload: dict[str, Any], example: dict[str, Any], where: str = "") -> None:
    """Every key of the example is in the payload, recursively through objects."""
    for key, value in example.items():
        assert key in payload, f"{where}.{key} missing"
        if isinstance(value, dict) and isinstance(payload[key], dict) and key != "permissions":
            assert_keeps_keys(payload[key], value, f"{where}.{key}")


def leftovers(obj: Any, path: str = "") -> list[str]:
    """Strings that still talk about the example's repository, users or API root."""
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in leftovers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in leftovers(v, f"{path}[{i}]")]
    if isinstance(obj, str) and any(b.lower() in obj.lower() for b in EXAMPLE_LEFTOVERS):
        return [f"{path}={obj[:80]}"]
    return []


def common_checks(gh: FakeGitHub, payload: dict[str, Any], event: str, action: str | None):
    try:
        example = webhook_example(event, action)
    except KeyError:
        example = webhook_example(event)
    example.pop("organization", None)  # only for repositories of organizations
    if event == "check_run":
        example["check_run"].pop("deployment", None)
    if action != "requested_action":
        example.pop("requested_action", None)
    assert_keeps_keys(payload, example)
    assert leftovers(payload) == []
    assert payload["repository"]["id"] == gh.repos[REPO]["id"]
    assert payload["repository"]["full_name"] == REPO
    assert payload["installation"]["id"] == INSTALLATION
    assert payload["organization"]["login"] == "octo-org"  # the account is an Organization
    assert payload["repository"]["owner"]["type"] == "Organization"
    json.dumps(payload)  # serialisable as a delivery body


# --------------------------------------------------------------------------- users


async def test_user_object_is_the_user_the_fake_answers_about(gh, api):
    assert gh.user(gh.bot_login)["id"] == gh.bot_user()["id"]  # one bot user, however asked
    mia = user_object(gh, "maintainer-mia", repo=REPO, permission="maintain")
    assert mia["type"] == "User" and set(webhook_example("issues", "opened")["sender"]) <= set(mia)
    status, body = await api("GET", f"/repos/{REPO}/collaborators/maintainer-mia/permission")
    assert status == 200
    assert (body["permission"], body["role_name"]) == ("write", "maintain")
    assert body["user"]["id"] == mia["id"] and body["user"]["login"] == "maintainer-mia"
    bot = user_object(gh, "dependabot[bot]")
    assert bot["type"] == "Bot"
    own = user_object(gh, gh.bot_login)
    assert own == gh.bot_user() and own["type"] == "Bot"
    with pytest.raises(ValueError):
        user_object(gh, "x", permission="write")


# --------------------------------------------------------------------------- pull_request


@pytest.mark.parametrize("action", ["opened", "reopened", "ready_for_review"])
async def test_pull_request_event(gh, api, action):
    if action == "reopened":
        gh.close_pull(REPO, 2)
    if action == "ready_for_review":
        gh.set_draft(REPO, 2, True)
    payload = pull_request_event(gh, action, REPO, 2, sender="alice")
    common_checks(gh, payload, "pull_request", action)
    pr = payload["pull_request"]
    assert payload["action"] == action and payload["number"] == 2
    assert payload["sender"]["login"] == "alice" and payload["sender"]["type"] == "User"
    assert pr["user"]["login"] == "alice"
    assert pr["state"] == "open" and pr["merged"] is False and pr["draft"] is False
    assert pr["changed_files"] == 1 and pr["additions"] == 2 and pr["deletions"] == 1
    status, got = await api("GET", f"/repos/{REPO}/pulls/2")
    assert status == 200
    for key in ("id", "number", "state", "draft", "merged", "html_url", "url"):
        assert got[key] == pr[key], key
    assert got["head"]["sha"] == pr["head"]["sha"] and got["head"]["ref"] == "alice/change"
    assert got["base"]["sha"] == pr["base"]["sha"]
    assert "installation" in payload and "before" not in payload


async def test_pull_request_synchronize_reports_the_push(gh, api):
    first = gh.pulls[REPO][2]["head"]["sha"]
    with pytest.raises(ValueError, match=r"fake\.push"):
        pull_request_event(gh, "synchronize", REPO, 2)
    new_files = [{"filename": "app.py", "patch": "@@ -1 +1 @@\n-a\n+b"}]
    sha = gh.push(REPO, 2, new_files)
    payload = pull_request_event(gh, "synchronize", REPO, 2, sender="alice")
    common_checks(gh, payload, "pull_request", "synchronize")
    assert (payload["before"], payload["after"]) == (first, sha)
    assert payload["pull_request"]["head"]["sha"] == sha
    _, got = await api("GET", f"/repos/{REPO}/pulls/2")
    assert got["head"]["sha"] == sha and got["commits"] == 2
    _, files = await api("GET", f"/repos/{REPO}/pulls/2/files")
    assert [f["patch"] for f in files] == ["@@ -1 +1 @@\n-a\n+b"]


async def test_pull_request_closed_unmerged_and_merged(gh, api):
    payload = pull_request_event(gh, "closed", REPO, 2, sender="alice")
    common_checks(gh, payload, "pull_request", "closed")
    pr = payload["pull_request"]
    assert pr["state"] == "closed" and pr["merged"] is False and pr["merged_at"] is None
    _, got = await api("GET", f"/repos/{REPO}/pulls/2")
    assert (got["state"], got["merged"], got["closed_at"]) == ("closed", False, pr["closed_at"])

    # merged through the API: the event reports the fake's merge
    gh.add_pull(REPO, 3, user="alice", files=FILES)
    gh.installations[INSTALLATION]["permissions"]["contents"] = "write"
    token = gh.issue_token(INSTALLATION)
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"{gh.url}/repos/{REPO}/pulls/3/merge",
            json={"merge_method": "squash"},
            headers={
                "User-Agent": "t",
                "Accept": "application/vnd.github+json",
                "Authorization": f"token {token}",
            },
        ) as resp:
            assert resp.status == 200
            merge_sha = (await resp.json())["sha"]
    payload = pull_request_event(gh, "closed", REPO, 3, sender=gh.bot_login)
    pr = payload["pull_request"]
    assert pr["merged"] is True and pr["merge_commit_sha"] == merge_sha
    assert pr["merged_by"]["login"] == gh.bot_login
    assert payload["sender"]["type"] == "Bot"

    # merged=True merges an open pull in the fake
    gh.add_pull(REPO, 4, user="alice")
    payload = pull_request_event(gh, "closed", REPO, 4, sender="maintainer-mia", merged=True)
    assert payload["pull_request"]["merged"] is True
    assert payload["pull_request"]["merged_by"]["login"] == "maintainer-mia"
    _, got = await api("GET", f"/repos/{REPO}/pulls/4")
    assert (
        got["merged"] is True
        and got["merge_commit_sha"] == payload["pull_request"]["merge_commit_sha"]
    )
    _, issue = await api("GET", f"/repos/{REPO}/issues/4")
    assert issue["state"] == "closed" and issue["pull_request"]["merged_at"]


async def test_pull_request_extra_keys_and_installation(gh):
    label = {"id": 1, "name": "codegen", "color": "5319e7", "default": False}
    payload = pull_request_event(gh, "labeled", REPO, 2, label=label, installation_id=99)
    assert payload["label"] == label and payload["installation"]["id"] == 99


# --------------------------------------------------------------------------- checks


async def test_check_run_event_for_another_apps_run(gh, api):
    sha = gh.pulls[REPO][2]["head"]["sha"]
    run = gh.add_check_run(
        REPO,
        name="tests",
        head_sha=sha,
        conclusion="failure",
        app_slug="ci-app",
        output={"title": "2 tests failed", "summary": "test_x, test_y"},
    )
    payload = check_run_event(gh, "completed", REPO, run["id"])
    common_checks(gh, payload, "check_run", "completed")
    got_run = payload["check_run"]
    assert got_run["id"] == run["id"] and got_run["head_sha"] == sha
    assert got_run["app"]["slug"] == "ci-app" and got_run["conclusion"] == "failure"
    assert got_run["output"]["title"] == "2 tests failed"
    assert payload["sender"]["login"] == "ci-app[bot]" and payload["sender"]["type"] == "Bot"
    [pr] = got_run["pull_requests"]
    assert pr["number"] == 2 and pr["head"]["sha"] == sha and pr["head"]["ref"] == "alice/change"
    assert set(pr) == {"url", "id", "number", "head", "base"}
    assert set(pr["head"]["repo"]) == {"id", "url", "name"}
    suite = got_run["check_suite"]
    assert suite["head_sha"] == sha and suite["head_branch"] == "alice/change"
    assert (suite["status"], suite["conclusion"]) == ("completed", "failure")
    assert suite["app"]["slug"] == "ci-app" and "repository" not in suite
    assert "requested_action" not in payload

    status, got = await api("GET", f"/repos/{REPO}/check-runs/{run['id']}")
    assert status == 200
    assert got["id"] == run["id"] and got["check_suite"]["id"] == suite["id"]
    assert got["pull_requests"] == got_run["pull_requests"]
    assert got["output"]["summary"] == "test_x, test_y"

    with pytest.raises(ValueError, match="only to the App that created"):
        check_run_event(gh, "rerequested", REPO, run["id"])


async def test_check_run_requested_action_on_our_run(gh, api):
    sha = gh.pulls[REPO][2]["head"]["sha"]
    status, run = await api(
        "POST",
        f"/repos/{REPO}/check-runs",
        json={
            "name": "codegen",
            "head_sha": sha,
            "status": "in_progress",
            "actions": [{"label": "Fix it", "description": "Ask Codegen", "identifier": "fix"}],
        },
    )
    assert status == 201
    payload = check_run_event(
        gh, "requested_action", REPO, run["id"], requested_action_identifier="fix"
    )
    common_checks(gh, payload, "check_run", "requested_action")
    assert payload["requested_action"] == {"identifier": "fix"}
    assert payload["check_run"]["app"]["id"] == APP_ID
    assert payload["check_run"]["check_suite"]["id"] == run["check_suite"]["id"]
    assert payload["sender"]["login"] == "octocat"
    with pytest.raises(ValueError, match="offers no action"):
        check_run_event(gh, "requested_action", REPO, run["id"], requested_action_identifier="x")
    with pytest.raises(ValueError):
        check_run_event(gh, "requested_action", REPO, run["id"])

    created = check_run_event(gh, "created", REPO, run["id"])
    assert created["sender"]["login"] == gh.bot_login and "requested_action" not in created
    rerun = check_run_event(gh, "rerequested", REPO, run["id"], sender="maintainer-mia")
    assert rerun["sender"]["login"] == "maintainer-mia"


async def test_check_suite_event(gh, api):
    sha = gh.pulls[REPO][2]["head"]["sha"]
    with pytest.raises(ValueError, match="no completed runs"):
        check_suite_event(gh, "completed", REPO, sha, app_slug="ci-app")
    gh.add_check_run(REPO, name="lint", head_sha=sha, app_slug="ci-app", conclusion="success")
    gh.add_check_run(REPO, name="tests", head_sha=sha, app_slug="ci-app", conclusion="failure")
    gh.add_check_run(REPO, name="tests", head_sha=sha, app_slug="ci-app", conclusion="success")
    payload = check_suite_event(gh, "completed", REPO, sha, app_slug="ci-app")
    common_checks(gh, payload, "check_suite", "completed")
    suite = payload["check_suite"]
    # the latest `tests` run passed: the suite passed
    assert (suite["status"], suite["conclusion"]) == ("completed", "success")
    assert suite["latest_check_runs_count"] == 2
    assert suite["head_sha"] == sha and suite["head_commit"]["id"] == sha
    assert suite["app"]["slug"] == "ci-app"
    assert [p["number"] for p in suite["pull_requests"]] == [2]
    _, listed = await api("GET", f"/repos/{REPO}/commits/{sha}/check-runs")
    assert {r["check_suite"]["id"] for r in listed["check_runs"]} == {suite["id"]}

    requested = check_suite_event(gh, "requested", REPO, sha)
    common_checks(gh, requested, "check_suite", "requested")
    assert requested["check_suite"]["app"]["id"] == APP_ID
    assert (requested["check_suite"]["status"], requested["check_suite"]["conclusion"]) == (
        "queued",
        None,
    )
    assert requested["check_suite"]["id"] != suite["id"]  # one suite per App and commit
    with pytest.raises(ValueError):
        check_suite_event(gh, "rerequested", REPO, sha, app_slug="ci-app")
    forced = check_suite_event(gh, "completed", REPO, sha, app_slug="ci-app", conclusion="neutral")
    assert forced["check_suite"]["conclusion"] == "neutral"


async def test_status_event_agrees_with_the_combined_status(gh, api):
    sha = gh.pulls[REPO][2]["head"]["sha"]
    payload = status_event(
        gh,
        REPO,
        sha,
        context="ci/jenkins",
        state="failure",
        description="3 failed",
        target_url="https://ci.example/1",
    )
    common_checks(gh, payload, "status", None)
    assert (payload["sha"], payload["state"], payload["context"]) == (sha, "failure", "ci/jenkins")
    assert payload["commit"]["sha"] == sha and payload["name"] == REPO
    assert payload["commit"]["author"]["login"] == "alice"  # she heads the pull
    assert [b["name"] for b in payload["branches"]] == ["alice/change"]
    assert payload["sender"]["login"] == "ci-bot"
    _, combined = await api("GET", f"/repos/{REPO}/commits/{sha}/status")
    assert combined["state"] == "failure"
    [status] = combined["statuses"]
    assert status["id"] == payload["id"] and status["description"] == "3 failed"
    assert "creator" not in status and status["avatar_url"]
    _, by_branch = await api("GET", f"/repos/{REPO}/commits/alice/change/status")
    assert by_branch["sha"] == sha and by_branch["total_count"] == 1


# --------------------------------------------------------------------------- comments


async def test_issue_comment_on_a_pull_and_on_an_issue(gh, api):
    payload = issue_comment_event(gh, "created", REPO, 2, "/codegen fix the tests", user="mia")
    common_checks(gh, payload, "issue_comment", "created")
    assert payload["issue"]["number"] == 2 and payload["issue"]["pull_request"]["url"].endswith(
        "/pulls/2"
    )
    assert payload["comment"]["user"]["login"] == "mia" and payload["sender"]["login"] == "mia"
    assert payload["comment"]["author_association"] == "COLLABORATOR"
    cid = payload["comment"]["id"]
    status, got = await api("GET", f"/repos/{REPO}/issues/comments/{cid}")
    assert status == 200 and got["body"] == "/codegen fix the tests"
    assert got["user"]["id"] == payload["comment"]["user"]["id"]
    status, _ = await api(
        "POST", f"/repos/{REPO}/issues/comments/{cid}/reactions", json={"content": "eyes"}
    )
    assert status == 201
    assert "changes" not in payload

    on_issue = issue_comment_event(gh, "created", REPO, 1, "hello", user="rae")
    assert "pull_request" not in on_issue["issue"] and "draft" not in on_issue["issue"]
    assert on_issue["issue"]["id"] == gh.issues[REPO][1]["id"]


async def test_issue_comment_edited_and_deleted(gh, api):
    created = issue_comment_event(gh, "created", REPO, 2, "/codegen fxi", user="mia")
    cid = created["comment"]["id"]
    edited = issue_comment_event(gh, "edited", REPO, 2, "/codegen fix", user="mia", comment_id=cid)
    common_checks(gh, edited, "issue_comment", "edited")
    assert edited["changes"] == {"body": {"from": "/codegen fxi"}}
    assert edited["comment"]["body"] == "/codegen fix" and edited["comment"]["id"] == cid
    _, got = await api("GET", f"/repos/{REPO}/issues/comments/{cid}")
    assert got["body"] == "/codegen fix"

    # a comment the fake has never seen: created from previous_body, then edited
    seeded = issue_comment_event(
        gh, "edited", REPO, 2, "new", user="mia", comment_id=777, previous_body="old"
    )
    assert seeded["changes"]["body"]["from"] == "old" and gh.comments[777]["body"] == "new"

    deleted = issue_comment_event(
        gh, "deleted", REPO, 2, "/codegen fix", user="mia", comment_id=cid
    )
    common_checks(gh, deleted, "issue_comment", "deleted")
    assert deleted["comment"]["id"] == cid
    status, _ = await api("GET", f"/repos/{REPO}/issues/comments/{cid}")
    assert status == 404
    with pytest.raises(ValueError):
        issue_comment_event(gh, "created", REPO, 2, "x", user="mia", comment_id=777)


async def test_review_comment_event(gh, api):
    payload = review_comment_event(
        gh, "created", REPO, 2, "/codegen rename this", user="mia", path="app.py", line=3
    )
    common_checks(gh, payload, "pull_request_review_comment", "created")
    comment = payload["comment"]
    assert (comment["path"], comment["line"], comment["side"]) == ("app.py", 3, "RIGHT")
    assert comment["commit_id"] == gh.pulls[REPO][2]["head"]["sha"]
    assert comment["diff_hunk"] == "@@ -1,3 +1,4 @@\n import os\n-x = 1\n+x = 2\n+y = 3"
    assert comment["position"] == 4
    assert comment["html_url"].endswith(f"#discussion_r{comment['id']}")
    assert payload["pull_request"]["number"] == 2
    assert gh.review_comments[comment["id"]]["body"] == "/codegen rename this"
    _, reviews = await api("GET", f"/repos/{REPO}/pulls/2/reviews")
    assert [r["id"] for r in reviews] == [comment["pull_request_review_id"]]
    status, _ = await api(
        "POST", f"/repos/{REPO}/pulls/comments/{comment['id']}/reactions", json={"content": "+1"}
    )
    assert status == 201

    edited = review_comment_event(
        gh,
        "edited",
        REPO,
        2,
        "/codegen rename it",
        user="mia",
        path="app.py",
        line=3,
        comment_id=comment["id"],
    )
    assert edited["changes"] == {"body": {"from": "/codegen rename this"}}
    assert gh.review_comments[comment["id"]]["body"] == "/codegen rename it"
    with pytest.raises(ValueError, match="not in the diff"):
        review_comment_event(gh, "created", REPO, 2, "x", user="mia", path="app.py", line=40)
    with pytest.raises(ValueError, match="not in the diff"):
        review_comment_event(gh, "created", REPO, 2, "x", user="mia", path="nope.py", line=1)


async def test_review_event(gh, api):
    payload = review_event(gh, "submitted", REPO, 2, "Looks good", user="mia", state="approved")
    common_checks(gh, payload, "pull_request_review", "submitted")
    review = payload["review"]
    assert review["state"] == "approved" and review["body"] == "Looks good"
    assert review["commit_id"] == gh.pulls[REPO][2]["head"]["sha"]
    assert review["user"]["login"] == "mia"
    _, listed = await api("GET", f"/repos/{REPO}/pulls/2/reviews")
    assert [(r["id"], r["state"]) for r in listed] == [(review["id"], "APPROVED")]

    edited = review_event(gh, "edited", REPO, 2, "LGTM", user="mia", review_id=review["id"])
    common_checks(gh, edited, "pull_request_review", "edited")
    assert edited["changes"] == {"body": {"from": "Looks good"}}
    dismissed = review_event(
        gh, "dismissed", REPO, 2, "LGTM", user="mia", review_id=review["id"], sender="owner-ola"
    )
    common_checks(gh, dismissed, "pull_request_review", "dismissed")
    assert dismissed["review"]["state"] == "dismissed"
    assert dismissed["sender"]["login"] == "owner-ola"
    _, listed = await api("GET", f"/repos/{REPO}/pulls/2/reviews")
    assert listed[0]["state"] == "DISMISSED"
    empty = review_event(gh, "submitted", REPO, 2, "", user="bob")
    assert empty["review"]["body"] is None and empty["review"]["state"] == "commented"


async def test_a_built_payload_is_a_valid_signed_delivery(gh):
    """Sent by the fake like GitHub sends it, a built payload parses with gidgethub."""
    got: list[sansio.Event] = []

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        got.append(sansio.Event.from_http(request.headers, body, secret="s3cret"))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        payload = issue_comment_event(gh, "created", REPO, 2, "/codegen help", user="mia")
        delivery = await gh.send_webhook(
            f"http://127.0.0.1:{port}/hook", "issue_comment", payload, secret="s3cret"
        )
        assert delivery["status_code"] == 202
        assert delivery["installation_id"] == INSTALLATION
        assert got[0].event == "issue_comment" and got[0].data["comment"]["body"] == "/codegen help"
    finally:
        await runner.cleanup()
