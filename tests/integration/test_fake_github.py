"""The fake GitHub enforces GitHub's published contract (tests/fakes/github.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub import aiohttp as gh_aiohttp
from gidgethub import apps as gh_apps

from tests.fakes import (
    FakeGitHub,
    diff_lines,
    encode_jwt,
    make_app_jwt,
    make_app_key,
    make_other_key,
    openapi_operations,
    sign_webhook,
    webhook_example,
)

APP_ID = 31337
REPO = "octo-org/widgets"
OTHER_REPO = "other-org/gadgets"
ACCEPT = "application/vnd.github+json"
SHA = "a" * 40
DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    _, public_pem = make_app_key()
    fake = FakeGitHub(app_id=APP_ID, public_key_pem=public_pem)
    await fake.start()
    fake.add_repo(REPO, installation_id=7)
    fake.add_repo(OTHER_REPO, installation_id=8)
    fake.add_issue(REPO, 1, title="Add a button")
    yield fake
    await fake.close()
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        headers={"User-Agent": "codegen-bot-tests", "Accept": ACCEPT}
    ) as session:
        yield session


def app_jwt(**kwargs: Any) -> str:
    private_pem, _ = make_app_key()
    return make_app_jwt(private_pem, kwargs.pop("iss", APP_ID), **kwargs)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def token_auth(value: str) -> dict[str, str]:
    return {"Authorization": f"token {value}"}


async def call(
    http: aiohttp.ClientSession,
    gh: FakeGitHub,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, Any]:
    async with http.request(method, gh.url + path, headers=headers, **kwargs) as resp:
        text = await resp.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        return resp.status, body, resp.headers


# --------------------------------------------------------------------------- pinned data


def test_pinned_data_matches_the_brief():
    ops = openapi_operations()
    assert len(ops) == 40
    assert ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews") in ops
    assert ("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}") in ops
    labels = ops[("POST", "/repos/{owner}/{repo}/labels")]
    assert labels["request_body_required"] is True
    assert labels["request_body_schema"]["required"] == ["name"]
    assert "nullable" not in json.dumps(list(ops.values()))
    merge = ops[("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")]
    assert merge["request_body_schema"]["type"] == ["object", "null"]  # nullable converted
    events = json.loads(gzip.decompress((DATA / "webhooks-examples-7.6.1.json.gz").read_bytes()))
    assert len(events) == 58
    assert sum(len(e["examples"]) for e in events) == 329


def test_webhook_signature_matches_githubs_test_vector():
    assert sign_webhook(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_diff_lines():
    patch = "@@ -1,3 +1,4 @@\n line1\n-old2\n+new2\n+new3\n line3\n\\ No newline at end of file"
    left, right = diff_lines(patch)
    assert left == {1, 2, 3}
    assert right == {1, 2, 3, 4}


# --------------------------------------------------------------------------- App JWT


async def test_get_app_with_a_valid_jwt(gh, http):
    status, body, _ = await call(http, gh, "GET", "/app", headers=bearer(app_jwt()))
    assert status == 200
    assert body["id"] == APP_ID and body["slug"] == "codegen-bot"
    # iss as a string is accepted too, and the scheme is case-insensitive (gidgethub: "bearer")
    status, _, _ = await call(
        http, gh, "GET", "/app", headers={"Authorization": f"bearer {app_jwt(iss=str(APP_ID))}"}
    )
    assert status == 200


def _now() -> int:
    return int(time.time())


BAD_JWTS = {
    "expired": lambda: app_jwt(iat=_now() - 700, exp=_now() - 100),
    "lifetime over 10 minutes": lambda: app_jwt(iat=_now() - 30, exp=_now() - 30 + 601),
    "iat in the future": lambda: app_jwt(iat=_now() + 120, exp=_now() + 300),
    "wrong issuer": lambda: app_jwt(iss=APP_ID + 1),
    "wrong key": lambda: make_app_jwt(make_other_key()[0], APP_ID),
    "HS256": lambda: encode_jwt(
        {"iat": _now() - 60, "exp": _now() + 300, "iss": APP_ID}, "s" * 32, algorithm="HS256"
    ),
    "no exp": lambda: encode_jwt({"iat": _now() - 60, "iss": APP_ID}, make_app_key()[0]),
    "float iat": lambda: encode_jwt(
        {"iat": _now() - 60.5, "exp": _now() + 300, "iss": APP_ID}, make_app_key()[0]
    ),
    "garbage": lambda: "not.a.jwt",
}


BAD_JWT_MESSAGES = {
    "expired": "'Expiration time' claim ('exp') must be a numeric value",
    "lifetime over 10 minutes": "'Expiration time' claim ('exp') is too far in the future.",
    "iat in the future": "'Issued at' claim ('iat') must be an Integer",
    "wrong issuer": "Integration not found",
    "wrong key": "A JSON web token could not be decoded",
    "HS256": "A JSON web token could not be decoded",
    "no exp": "'Expiration time' claim ('exp') must be a numeric value",
    "float iat": "'Issued at' claim ('iat') must be an Integer",
    "garbage": "A JSON web token could not be decoded",
}


@pytest.mark.parametrize("case", sorted(BAD_JWTS))
async def test_bad_jwts_are_rejected(gh, http, case):
    status, body, headers = await call(http, gh, "GET", "/app", headers=bearer(BAD_JWTS[case]()))
    assert status == 401
    assert body["message"].startswith(BAD_JWT_MESSAGES[case])
    assert body["documentation_url"].startswith("https://docs.github.com")
    assert headers["x-ratelimit-limit"] == "60"  # unauthenticated budget


async def test_jwt_required_for_app_endpoints(gh, http):
    status, body, _ = await call(http, gh, "GET", "/app")
    assert status == 401
    token = gh.issue_token(7)
    status, body, _ = await call(http, gh, "GET", "/app", headers=token_auth(token))
    assert status == 401
    assert body["message"] == "A JSON web token could not be decoded"


# --------------------------------------------------------------------------- tokens


async def test_mint_and_use_an_installation_token(gh, http):
    status, body, _ = await call(
        http, gh, "POST", "/app/installations/7/access_tokens", headers=bearer(app_jwt())
    )
    assert status == 201
    assert body["token"].startswith("ghs_") and body["token"] in gh.tokens_issued
    assert body["repository_selection"] == "all"
    assert body["permissions"]["issues"] == "write"
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(expires.timestamp() - (time.time() + 3600)) < 5

    for auth in (token_auth(body["token"]), bearer(body["token"])):
        status, repo, _ = await call(http, gh, "GET", f"/repos/{REPO}", headers=auth)
        assert status == 200
        assert repo["full_name"] == REPO
    assert gh.calls("GET", rf"^/repos/{REPO}$")[-1].installation_id == 7


async def test_token_for_unknown_installation(gh, http):
    status, body, _ = await call(
        http, gh, "POST", "/app/installations/999/access_tokens", headers=bearer(app_jwt())
    )
    assert status == 404
    assert body["message"] == "Not Found"


async def test_token_of_another_installation_gets_404(gh, http):
    token = gh.issue_token(7)
    status, body, _ = await call(http, gh, "GET", f"/repos/{OTHER_REPO}", headers=token_auth(token))
    assert status == 404
    assert body["message"] == "Not Found"


async def test_a_renamed_repository_answers_under_its_new_name_only(gh, http):
    repo_id = gh.repos[REPO]["id"]
    token = gh.issue_token(7)
    gh.rename_repo(REPO, "octo-org/gizmos")
    status, repo, _ = await call(
        http, gh, "GET", "/repos/octo-org/gizmos", headers=token_auth(token)
    )
    assert status == 200 and repo["id"] == repo_id and repo["full_name"] == "octo-org/gizmos"
    status, issue, _ = await call(
        http, gh, "GET", "/repos/octo-org/gizmos/issues/1", headers=token_auth(token)
    )
    assert status == 200 and issue["title"] == "Add a button"
    status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}/issues/1", headers=token_auth(token))
    assert status == 404


@pytest.mark.parametrize("auth", [None, "token ghs_unknown", "Basic abc"])
async def test_bad_credentials(gh, http, auth):
    headers = {"Authorization": auth} if auth else None
    status, body, _ = await call(http, gh, "GET", f"/repos/{REPO}", headers=headers)
    assert status == 401
    assert body["message"] in ("Bad credentials", "Requires authentication")


async def test_expired_token_and_jwt_on_repo_endpoint(gh, http):
    token = gh.issue_token(7)
    gh.expire_tokens(7)
    status, body, _ = await call(http, gh, "GET", f"/repos/{REPO}", headers=token_auth(token))
    assert (status, body["message"]) == (401, "Bad credentials")
    status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}", headers=bearer(app_jwt()))
    assert status == 401


async def test_token_restricted_to_some_repositories(gh, http):
    gh.add_repo("octo-org/secret", installation_id=7)
    status, body, _ = await call(
        http,
        gh,
        "POST",
        "/app/installations/7/access_tokens",
        headers=bearer(app_jwt()),
        json={"repositories": ["widgets"], "permissions": {"issues": "read"}},
    )
    assert status == 201
    assert body["repository_selection"] == "selected"
    auth = token_auth(body["token"])
    assert (await call(http, gh, "GET", f"/repos/{REPO}", headers=auth))[0] == 200
    assert (await call(http, gh, "GET", "/repos/octo-org/secret", headers=auth))[0] == 404
    status, body, _ = await call(
        http, gh, "POST", f"/repos/{REPO}/labels", headers=auth, json={"name": "x"}
    )
    assert (status, body["message"]) == (403, "Resource not accessible by integration")

    status, _, _ = await call(
        http,
        gh,
        "POST",
        "/app/installations/7/access_tokens",
        headers=bearer(app_jwt()),
        json={"repositories": ["nope"]},
    )
    assert status == 422


async def test_missing_app_permission_is_403(gh, http):
    gh.add_installation(9, permissions={"issues": "write", "metadata": "read"})
    gh.add_repo("nine/repo", installation_id=9)
    token = gh.issue_token(9)
    status, body, _ = await call(
        http,
        gh,
        "POST",
        "/repos/nine/repo/check-runs",
        headers=token_auth(token),
        json={"name": "codegen", "head_sha": SHA},
    )
    assert (status, body["message"]) == (403, "Resource not accessible by integration")


# --------------------------------------------------------------------------- headers


async def test_missing_user_agent_is_403(gh):
    token = gh.issue_token(7)
    async with (
        aiohttp.ClientSession(skip_auto_headers=["User-Agent"]) as session,
        session.get(
            f"{gh.url}/repos/{REPO}", headers={"Accept": ACCEPT, **token_auth(token)}
        ) as resp,
    ):
        assert resp.status == 403
        assert "User-Agent" in (await resp.json())["message"]


async def test_accept_header_must_name_json(gh):
    token = gh.issue_token(7)
    async with aiohttp.ClientSession(headers={"User-Agent": "t"}) as session:  # Accept: */*
        async with session.get(f"{gh.url}/repos/{REPO}", headers=token_auth(token)) as resp:
            assert resp.status == 415
        headers = {"Accept": "application/json", **token_auth(token)}
        async with session.get(f"{gh.url}/repos/{REPO}", headers=headers) as resp:
            assert resp.status == 200


async def test_rate_limit_headers_on_every_answer(gh, http):
    token = gh.issue_token(7)
    remaining = []
    for _ in range(3):
        status, _, headers = await call(
            http, gh, "GET", f"/repos/{REPO}", headers=token_auth(token)
        )
        assert status == 200
        assert headers["x-ratelimit-limit"] == "5000"
        assert headers["x-ratelimit-resource"] == "core"
        assert int(headers["x-ratelimit-reset"]) > time.time()
        remaining.append(int(headers["x-ratelimit-remaining"]))
        assert int(headers["x-ratelimit-used"]) == 5000 - remaining[-1]
    assert remaining == [4999, 4998, 4997]
    # errors carry them as well
    _, _, headers = await call(http, gh, "GET", "/nope", headers=token_auth(token))
    assert "x-ratelimit-remaining" in headers


async def test_exhausted_primary_rate_limit(gh, http):
    token = gh.issue_token(7)
    gh.set_rate_limit(0, installation_id=7, reset_in=30)
    status, body, headers = await call(http, gh, "GET", f"/repos/{REPO}", headers=token_auth(token))
    assert status == 403
    assert "rate limit exceeded" in body["message"]
    assert headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(headers["x-ratelimit-reset"]) - time.time() <= 31


async def test_unimplemented_route_is_404(gh, http):
    token = gh.issue_token(7)
    status, body, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/branches", headers=token_auth(token)
    )
    assert status == 404
    assert body["message"] == "Not Found"


# --------------------------------------------------------------------------- scripted failures


async def test_fail_next_then_success(gh, http):
    token = gh.issue_token(7)
    gh.fail_next("GET", rf"^/repos/{REPO}$", 503, times=2)
    statuses = [
        (await call(http, gh, "GET", f"/repos/{REPO}", headers=token_auth(token)))[0]
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert [r.status for r in gh.calls("GET", rf"^/repos/{REPO}$")] == [503, 503, 200]


async def test_scripted_rate_limits(gh, http):
    token = gh.issue_token(7)
    path = f"/repos/{REPO}/issues/1/comments"
    gh.secondary_rate_limit_next("POST", r"/comments$", retry_after=3)
    status, body, headers = await call(
        http, gh, "POST", path, headers=token_auth(token), json={"body": "hi"}
    )
    assert status == 403 and headers["retry-after"] == "3"
    assert "secondary rate limit" in body["message"]

    gh.primary_rate_limit_next("POST", r"/comments$", reset_in=10, status=429)
    status, _, headers = await call(
        http, gh, "POST", path, headers=token_auth(token), json={"body": "hi"}
    )
    assert status == 429 and headers["x-ratelimit-remaining"] == "0"
    assert int(headers["x-ratelimit-reset"]) >= time.time() + 9

    gh.fail_next("*", r"/comments$", 502, body="<html>bad gateway</html>")
    status, body, _ = await call(
        http, gh, "POST", path, headers=token_auth(token), json={"body": "hi"}
    )
    assert (status, body) == (502, "<html>bad gateway</html>")

    status, _, _ = await call(
        http, gh, "POST", path, headers=token_auth(token), json={"body": "hi"}
    )
    assert status == 201
    assert len(gh.comments_on(REPO, 1)) == 1  # scripted failures created nothing


# --------------------------------------------------------------------------- bodies


async def test_label_create_then_already_exists(gh, http):
    auth = token_auth(gh.issue_token(7))
    status, label, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/labels",
        headers=auth,
        json={"name": "codegen: run", "color": "5319e7", "description": "Run Codegen"},
    )
    assert status == 201
    assert label["name"] == "codegen: run" and label["color"] == "5319e7"
    assert gh.labels[REPO]["codegen: run"]["id"] == label["id"]

    status, body, _ = await call(
        http, gh, "POST", f"/repos/{REPO}/labels", headers=auth, json={"name": "CODEGEN: Run"}
    )
    assert status == 422
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]

    status, got, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/labels/Codegen%3A%20Run", headers=auth
    )
    assert status == 200 and got["id"] == label["id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"name": "x", "color": 5},
            422,
            "Invalid request.\n\nFor 'properties/color', 5 is not a string.",
        ),
        ({"color": "ffffff"}, 422, 'Invalid request.\n\n"name" wasn\'t supplied.'),
        (None, 400, "Problems parsing JSON"),
        (b"{not json", 400, "Problems parsing JSON"),
    ],
)
async def test_label_body_validation(gh, http, body, status, message):
    auth = token_auth(gh.issue_token(7))
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body} if body else {}
    got_status, got, _ = await call(
        http, gh, "POST", f"/repos/{REPO}/labels", headers=auth, **kwargs
    )
    assert (got_status, got["message"]) == (status, message)
    assert got["documentation_url"] == "https://docs.github.com/rest/issues/labels#create-a-label"
    assert gh.labels[REPO] == {}


async def test_issue_labels(gh, http):
    auth = token_auth(gh.issue_token(7))
    path = f"/repos/{REPO}/issues/1/labels"
    status, labels, _ = await call(http, gh, "POST", path, headers=auth, json={"labels": ["a"]})
    assert status == 200 and [lb["name"] for lb in labels] == ["a"]
    status, _, _ = await call(http, gh, "POST", path, headers=auth, json=["b"])  # pinned schema
    assert status == 422
    status, labels, _ = await call(http, gh, "DELETE", f"{path}/a", headers=auth)
    assert (status, labels) == (200, [])
    status, body, _ = await call(http, gh, "DELETE", f"{path}/a", headers=auth)
    assert (status, body["message"]) == (404, "Label does not exist")


# --------------------------------------------------------------------------- comments etc.


async def test_issue_comments(gh, http):
    auth = token_auth(gh.issue_token(7))
    ids = []
    for i in range(3):
        status, comment, _ = await call(
            http,
            gh,
            "POST",
            f"/repos/{REPO}/issues/1/comments",
            headers=auth,
            json={"body": f"comment {i}"},
        )
        assert status == 201
        assert comment["user"]["login"] == "codegen-bot[bot]"
        assert comment["user"]["type"] == "Bot"
        assert (
            comment["html_url"]
            == f"https://github.com/{REPO}/issues/1#issuecomment-{comment['id']}"
        )
        ids.append(comment["id"])
    assert ids == sorted(ids) and len(set(ids)) == 3

    status, edited, _ = await call(
        http,
        gh,
        "PATCH",
        f"/repos/{REPO}/issues/comments/{ids[0]}",
        headers=auth,
        json={"body": "edited"},
    )
    assert status == 200 and edited["body"] == "edited"
    status, got, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/issues/comments/{ids[0]}", headers=auth
    )
    assert got["body"] == "edited"

    status, page, headers = await call(
        http, gh, "GET", f"/repos/{REPO}/issues/1/comments?per_page=2", headers=auth
    )
    assert [c["id"] for c in page] == ids[:2]
    assert 'rel="next"' in headers["Link"]

    status, _, _ = await call(
        http, gh, "POST", f"/repos/{REPO}/issues/99/comments", headers=auth, json={"body": "x"}
    )
    assert status == 404
    status, body, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/issues/1/comments",
        headers=auth,
        json={"body": "x" * 65537},
    )
    assert status == 422 and body["errors"][0]["resource"] == "IssueComment"


async def test_reactions_are_idempotent(gh, http):
    auth = token_auth(gh.issue_token(7))
    comment = gh.add_comment(REPO, 1, "@codegen-bot please", user="alice")
    path = f"/repos/{REPO}/issues/comments/{comment['id']}/reactions"
    status, first, _ = await call(http, gh, "POST", path, headers=auth, json={"content": "eyes"})
    assert status == 201 and first["content"] == "eyes"
    status, again, _ = await call(http, gh, "POST", path, headers=auth, json={"content": "eyes"})
    assert status == 200 and again["id"] == first["id"]
    status, _, _ = await call(http, gh, "POST", path, headers=auth, json={"content": "wow"})
    assert status == 422
    assert len(gh.reactions_on("issue_comment", comment["id"])) == 1
    assert gh.comments[comment["id"]]["reactions"]["eyes"] == 1


async def test_collaborator_permission(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.set_permission(REPO, "mona", "maintain")
    gh.set_permission(REPO, "tri", "triage")
    path = f"/repos/{REPO}/collaborators/{{}}/permission"
    _, body, _ = await call(http, gh, "GET", path.format("mona"), headers=auth)
    assert (body["permission"], body["role_name"]) == ("write", "maintain")
    _, body, _ = await call(http, gh, "GET", path.format("tri"), headers=auth)
    assert (body["permission"], body["role_name"]) == ("read", "triage")
    _, body, _ = await call(http, gh, "GET", path.format("stranger"), headers=auth)
    assert body["permission"] == "read"  # public repo


async def test_check_runs_and_annotations(gh, http):
    auth = token_auth(gh.issue_token(7))

    def annotations(n: int) -> list[dict[str, Any]]:
        return [
            {
                "path": "a.py",
                "start_line": i + 1,
                "end_line": i + 1,
                "annotation_level": "warning",
                "message": f"m{i}",
            }
            for i in range(n)
        ]

    status, run, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/check-runs",
        headers=auth,
        json={
            "name": "codegen",
            "head_sha": SHA,
            "status": "in_progress",
            "output": {"title": "t", "summary": "s", "annotations": annotations(50)},
        },
    )
    assert status == 201 and run["status"] == "in_progress"
    path = f"/repos/{REPO}/check-runs/{run['id']}"
    status, body, _ = await call(
        http,
        gh,
        "PATCH",
        path,
        headers=auth,
        json={"output": {"summary": "s", "annotations": annotations(51)}},
    )
    assert status == 422 and body["message"].startswith("Invalid request.")
    status, body, _ = await call(
        http, gh, "PATCH", path, headers=auth, json={"status": "completed"}
    )
    assert status == 422  # conclusion is required with completed
    status, run, _ = await call(
        http,
        gh,
        "PATCH",
        path,
        headers=auth,
        json={"conclusion": "success", "output": {"summary": "s2", "annotations": annotations(2)}},
    )
    assert status == 200
    assert run["status"] == "completed" and run["output"]["annotations_count"] == 52
    assert len(gh.annotations[run["id"]]) == 52
    assert gh.check_runs[run["id"]]["output"]["summary"] == "s2"

    gh.add_check_run(REPO, name="ci", head_sha=SHA, conclusion="failure", app_slug="ci-app")
    status, listed, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/commits/{SHA}/check-runs", headers=auth
    )
    assert listed["total_count"] == 2
    assert {r["name"] for r in listed["check_runs"]} == {"codegen", "ci"}
    gh.add_status(REPO, SHA, context="legacy", state="pending")
    _, combined, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/commits/{SHA}/status", headers=auth
    )
    assert combined["state"] == "pending" and combined["total_count"] == 1


async def test_review_lines_must_be_in_the_diff(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(
        REPO,
        2,
        head_sha=SHA,
        files=[
            {"filename": "a.py", "patch": "@@ -1,2 +1,3 @@\n x = 1\n+y = 2\n z = 3"},
        ],
    )
    path = f"/repos/{REPO}/pulls/2/reviews"
    good = {"path": "a.py", "line": 2, "side": "RIGHT", "body": "nice"}
    status, review, _ = await call(
        http,
        gh,
        "POST",
        path,
        headers=auth,
        json={"commit_id": SHA, "event": "COMMENT", "body": "r", "comments": [good]},
    )
    assert status == 200 and review["state"] == "COMMENTED"
    assert gh.reviews[review["id"]]["user"]["login"] == "codegen-bot[bot]"
    for bad in ({**good, "line": 40}, {**good, "path": "b.py"}):
        status, body, _ = await call(
            http,
            gh,
            "POST",
            path,
            headers=auth,
            json={"event": "COMMENT", "body": "r", "comments": [bad]},
        )
        assert status == 422, bad
        assert body["errors"][0].endswith("could not be resolved")
    assert len(gh.reviews) == 1


async def test_contents_readme_tree_and_merge(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.set_file(REPO, "README.md", "# Widgets\n")
    gh.set_file(REPO, "src/app.py", b"print(1)\n")
    _, readme, _ = await call(http, gh, "GET", f"/repos/{REPO}/readme", headers=auth)
    assert readme["encoding"] == "base64" and readme["path"] == "README.md"
    _, listing, _ = await call(http, gh, "GET", f"/repos/{REPO}/contents/src", headers=auth)
    assert [e["path"] for e in listing] == ["src/app.py"]
    _, tree, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/git/trees/main?recursive=1", headers=auth
    )
    assert {e["path"] for e in tree["tree"]} == {"README.md", "src", "src/app.py"}

    gh.installations[7]["permissions"]["contents"] = "write"
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(REPO, 3, head_sha=SHA)
    status, body, _ = await call(
        http, gh, "PUT", f"/repos/{REPO}/pulls/3/merge", headers=auth, json={"sha": "b" * 40}
    )
    assert status == 409
    status, body, _ = await call(http, gh, "PUT", f"/repos/{REPO}/pulls/3/merge", headers=auth)
    assert status == 200 and body["merged"] is True


# --------------------------------------------------------------------------- deliveries


async def test_hook_deliveries_and_redelivery(gh, http):
    received: list[tuple[str, str]] = []

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.headers["X-Hub-Signature-256"] == sign_webhook(body, "s3cret")
        received.append((request.headers["X-GitHub-Delivery"], request.headers["X-GitHub-Event"]))
        return web.Response(status=500 if len(received) == 1 else 202)

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        payload = webhook_example("issues", "opened")
        first = await gh.send_webhook(
            f"http://127.0.0.1:{port}/hook", "issues", payload, secret="s3cret"
        )
        assert first["status_code"] == 500 and first["status"] == "Invalid HTTP Response: 500"
        gh.add_delivery(event="ping")
        gh.add_delivery(event="issues", action="closed")

        auth = bearer(app_jwt())
        status, page, headers = await call(
            http, gh, "GET", "/app/hook/deliveries?per_page=2", headers=auth
        )
        assert status == 200 and [d["event"] for d in page] == ["issues", "ping"]
        next_url = headers["Link"].split(";")[0].strip("<>")
        async with http.get(next_url, headers=auth) as resp:
            assert [d["id"] for d in await resp.json()] == [first["id"]]
        _, failed, _ = await call(
            http, gh, "GET", "/app/hook/deliveries?status=failure", headers=auth
        )
        assert [d["id"] for d in failed] == [first["id"]]

        status, body, _ = await call(
            http, gh, "POST", f"/app/hook/deliveries/{first['id']}/attempts", headers=auth
        )
        assert (status, body) == (202, {})
        for _ in range(100):
            if len(received) == 2:
                break
            await asyncio.sleep(0.02)
        assert received == [(first["guid"], "issues")] * 2  # same GUID on redelivery
        assert gh.deliveries[-1]["redelivery"] is True
        status, _, _ = await call(http, gh, "POST", "/app/hook/deliveries/1/attempts", headers=auth)
        assert status == 404
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- real clients


async def test_gidgethub_against_the_fake(gh):
    private_pem, _ = make_app_key()
    async with aiohttp.ClientSession() as session:
        client = gh_aiohttp.GitHubAPI(session, "codegen-bot-tests", base_url=gh.url)
        answer = await gh_apps.get_installation_access_token(
            client, installation_id=7, app_id=str(APP_ID), private_key=private_pem.decode()
        )
        installed = gh_aiohttp.GitHubAPI(
            session, "codegen-bot-tests", oauth_token=answer["token"], base_url=gh.url
        )
        comment = await installed.post(
            f"/repos/{REPO}/issues/1/comments", data={"body": "Working on it"}
        )
        assert comment["user"]["login"] == "codegen-bot[bot]"
        assert installed.rate_limit is not None and installed.rate_limit.remaining == 4999


async def test_seed_from_a_webhook_example(gh, http):
    payload = webhook_example("issue_comment", "created")
    gh.seed_from_event(payload, installation_id=7)
    full = payload["repository"]["full_name"]
    inst = gh._repo_installation[full]
    auth = token_auth(gh.issue_token(inst))
    number = payload["issue"]["number"]
    status, issue, _ = await call(http, gh, "GET", f"/repos/{full}/issues/{number}", headers=auth)
    assert status == 200 and issue["title"] == payload["issue"]["title"]
    cid = payload["comment"]["id"]
    status, comment, _ = await call(
        http, gh, "GET", f"/repos/{full}/issues/comments/{cid}", headers=auth
    )
    assert status == 200 and comment["body"] == payload["comment"]["body"]
    status, created, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{full}/issues/{number}/comments",
        headers=auth,
        json={"body": "reply"},
    )
    assert created["id"] > cid


async def test_remaining_endpoints_smoke(gh, http):
    auth = token_auth(gh.issue_token(7))
    status, inst, _ = await call(http, gh, "GET", "/app/installations/7", headers=bearer(app_jwt()))
    assert status == 200 and inst["id"] == 7 and inst["app_id"] == APP_ID

    patch = "@@ -0,0 +1,2 @@\n+a\n+b"
    files = [{"filename": f"f{i}.py", "status": "added", "patch": patch} for i in range(35)]
    gh.add_pull(REPO, 4, head_sha=SHA, files=files, user="alice")
    status, pull, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/4", headers=auth)
    assert status == 200 and pull["head"]["sha"] == SHA and pull["changed_files"] == 35
    _, page1, headers = await call(http, gh, "GET", f"/repos/{REPO}/pulls/4/files", headers=auth)
    assert len(page1) == 30 and page1[0]["additions"] == 2 and 'rel="last"' in headers["Link"]
    _, page2, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/4/files?page=2", headers=auth)
    assert len(page2) == 5

    status, _, _ = await call(
        http, gh, "POST", f"/repos/{REPO}/issues/4/reactions", headers=auth, json={"content": "+1"}
    )
    assert status == 201 and len(gh.reactions_on("issue", 4)) == 1
    rc = gh.add_review_comment(REPO, 4, "why?", path="f0.py", line=1, user="alice")
    status, _, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/pulls/comments/{rc['id']}/reactions",
        headers=auth,
        json={"content": "rocket"},
    )
    assert status == 201 and len(gh.reactions_on("review_comment", rc["id"])) == 1

    other = gh.add_check_run(REPO, name="ci", head_sha=SHA, app_slug="ci-app")
    status, body, _ = await call(
        http,
        gh,
        "PATCH",
        f"/repos/{REPO}/check-runs/{other['id']}",
        headers=auth,
        json={"name": "mine now"},
    )
    assert status == 403 and "Invalid app_id" in body["message"]

    gh.set_file(REPO, "docs/guide.md", "hello")
    raw = {**auth, "Accept": "application/vnd.github.raw+json"}
    async with http.get(f"{gh.url}/repos/{REPO}/contents/docs/guide.md", headers=raw) as resp:
        assert resp.status == 200 and await resp.read() == b"hello"
    gh.set_languages(REPO, {"Python": 1234})
    _, langs, _ = await call(http, gh, "GET", f"/repos/{REPO}/languages", headers=auth)
    assert langs == {"Python": 1234}
    status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}/contents/nope.md", headers=auth)
    assert status == 404


async def test_content_creation_secondary_limit(gh, http):
    gh.content_creation_per_minute = 2
    auth = token_auth(gh.issue_token(7))
    path = f"/repos/{REPO}/issues/1/comments"
    statuses = []
    for _ in range(3):
        status, body, headers = await call(http, gh, "POST", path, headers=auth, json={"body": "x"})
        statuses.append(status)
    assert statuses == [201, 201, 403]
    assert headers["retry-after"] == "60" and "secondary rate limit" in body["message"]


async def test_add_route_extends_the_table(gh, http):
    def get_branch(ctx):
        return 200, {"name": ctx.params["branch"], "repo": ctx.full_name}

    gh.add_route(
        "GET", "/repos/{owner}/{repo}/branches/{branch}", get_branch, permission="contents:read"
    )
    auth = token_auth(gh.issue_token(7))
    status, body, _ = await call(http, gh, "GET", f"/repos/{REPO}/branches/main", headers=auth)
    assert (status, body) == (200, {"name": "main", "repo": REPO})
    status, _, _ = await call(http, gh, "GET", f"/repos/{OTHER_REPO}/branches/main", headers=auth)
    assert status == 404  # auth and repo scoping apply to added routes too


async def test_latency_makes_concurrency_observable(gh, http):
    gh.latency = 0.05
    auth = token_auth(gh.issue_token(7))
    await asyncio.gather(*(call(http, gh, "GET", f"/repos/{REPO}", headers=auth) for _ in range(5)))
    assert gh.max_in_flight == 5


# --------------------------------------------------------------------------- pull requests


PATCH_A = "@@ -1,2 +1,3 @@\n x = 1\n+y = 2\n z = 3"


async def test_push_moves_the_head_of_a_pull(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(
        REPO, 5, head_sha=SHA, head_ref="feat", files=[{"filename": "a.py", "patch": PATCH_A}]
    )
    new = gh.push(REPO, 5, [{"filename": "b.py", "status": "added", "patch": "@@ -0,0 +1 @@\n+b"}])
    assert len(new) == 40 and new != SHA and all(c in "0123456789abcdef" for c in new)
    _, pull, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/5", headers=auth)
    assert pull["head"]["sha"] == new and pull["commits"] == 2
    assert pull["statuses_url"].endswith(f"/statuses/{new}")
    assert gh.refs[(REPO, "feat")] == new and gh.pull_commits[(REPO, 5)] == [SHA, new]
    _, files, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/5/files", headers=auth)
    assert [f["filename"] for f in files] == ["b.py"]
    # the branch name resolves to the new head for the commit endpoints
    gh.add_status(REPO, new, context="ci", state="success")
    _, combined, _ = await call(http, gh, "GET", f"/repos/{REPO}/commits/feat/status", headers=auth)
    assert combined["sha"] == new and combined["state"] == "success"

    # files kept when not given; an explicit SHA; a force-push drops the older heads
    third = gh.push(REPO, 5, sha="c" * 40, force=True)
    assert third == "c" * 40 and gh.pull_commits[(REPO, 5)] == [third]
    assert [f["filename"] for f in gh.pull_files[REPO][5]] == ["b.py"]
    with pytest.raises(ValueError):
        gh.push(REPO, 5, sha="not-a-sha")
    with pytest.raises(ValueError):
        gh.push(REPO, 5, sha=third)


async def test_merge_contract(gh, http):
    gh.installations[7]["permissions"]["contents"] = "write"
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(REPO, 6, head_sha=SHA, head_ref="feat")
    path = f"/repos/{REPO}/pulls/6/merge"
    status, body, _ = await call(
        http, gh, "PUT", path, headers=auth, json={"merge_method": "fast-forward"}
    )
    assert status == 422 and "is not a member of" in body["message"]
    status, body, _ = await call(http, gh, "PUT", path, headers=auth, json={"sha": "b" * 40})
    assert (status, body["message"]) == (
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    assert gh.merges == [] and gh.pulls[REPO][6]["merged"] is False

    status, body, _ = await call(
        http,
        gh,
        "PUT",
        path,
        headers=auth,
        json={"sha": SHA, "merge_method": "squash", "commit_title": "Add feat (#6)"},
    )
    assert status == 200 and body["merged"] is True
    assert gh.merges == [
        {
            "repo": REPO,
            "number": 6,
            "sha": SHA,
            "merge_method": "squash",
            "commit_title": "Add feat (#6)",
            "head_sha": SHA,
            "merge_commit_sha": body["sha"],
        }
    ]
    _, pull, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/6", headers=auth)
    assert (pull["state"], pull["merged"], pull["merge_commit_sha"]) == (
        "closed",
        True,
        body["sha"],
    )
    assert pull["merged_by"]["login"] == "codegen-bot[bot]" and pull["merged_at"]
    _, issue, _ = await call(http, gh, "GET", f"/repos/{REPO}/issues/6", headers=auth)
    assert issue["state"] == "closed" and issue["pull_request"]["merged_at"] == pull["merged_at"]
    assert gh.refs[(REPO, "main")] == body["sha"]
    status, _, _ = await call(http, gh, "PUT", path, headers=auth)
    assert status == 405  # already merged

    gh.add_pull(REPO, 7, draft=True)
    status, body, _ = await call(http, gh, "PUT", f"/repos/{REPO}/pulls/7/merge", headers=auth)
    assert status == 405 and len(gh.merges) == 1
    gh.add_pull(REPO, 8, mergeable=False)
    status, _, _ = await call(http, gh, "PUT", f"/repos/{REPO}/pulls/8/merge", headers=auth)
    assert status == 405


async def test_close_and_reopen_pull(gh):
    gh.add_pull(REPO, 9)
    gh.close_pull(REPO, 9)
    assert gh.pulls[REPO][9]["state"] == "closed" and gh.issues[REPO][9]["state"] == "closed"
    gh.reopen_pull(REPO, 9)
    assert gh.pulls[REPO][9]["state"] == "open" and gh.pulls[REPO][9]["closed_at"] is None
    gh.close_pull(REPO, 9, merged=True, merged_by="mia")
    assert gh.pulls[REPO][9]["merged_by"]["login"] == "mia"
    with pytest.raises(ValueError):
        gh.reopen_pull(REPO, 9)
    gh.set_draft(REPO, 9, True)
    assert gh.pulls[REPO][9]["draft"] is True and gh.issues[REPO][9]["draft"] is True


# --------------------------------------------------------------------------- reviews


async def test_reviews_record_commit_and_comments_and_are_listed(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(REPO, 10, head_sha=SHA, files=[{"filename": "a.py", "patch": PATCH_A}])
    new = gh.push(REPO, 10)
    path = f"/repos/{REPO}/pulls/10/reviews"
    comment = {"path": "a.py", "line": 2, "side": "RIGHT", "body": "why y?"}
    status, review, _ = await call(
        http,
        gh,
        "POST",
        path,
        headers=auth,
        json={"commit_id": SHA, "event": "COMMENT", "body": "r1", "comments": [comment]},
    )
    assert status == 200 and review["commit_id"] == SHA  # an older commit of the pull is fine
    assert review["_links"]["html"]["href"] == review["html_url"]
    [stored] = gh.review_comments_on(REPO, 10, review_id=review["id"])
    assert (stored["path"], stored["line"], stored["side"], stored["commit_id"]) == (
        "a.py",
        2,
        "RIGHT",
        SHA,
    )
    assert stored["diff_hunk"] == "@@ -1,2 +1,3 @@\n x = 1\n+y = 2" and stored["position"] == 2

    status, body, _ = await call(
        http,
        gh,
        "POST",
        path,
        headers=auth,
        json={"commit_id": "d" * 40, "event": "COMMENT", "body": "r2"},
    )
    assert status == 422 and body["errors"] == ["The commitOID is not part of the pull request"]
    status, body, _ = await call(
        http, gh, "POST", path, headers=auth, json={"event": "LGTM", "body": "r2"}
    )
    assert status == 422  # event enum from the schema
    gh.add_review(REPO, 10, "Looks good", user="mia", state="approved")
    status, _, _ = await call(
        http, gh, "POST", path, headers=auth, json={"event": "APPROVE", "commit_id": new}
    )
    assert status == 200

    status, listed, _ = await call(http, gh, "GET", path, headers=auth)
    assert status == 200
    assert [(r["user"]["login"], r["state"]) for r in listed] == [
        ("codegen-bot[bot]", "COMMENTED"),
        ("mia", "APPROVED"),
        ("codegen-bot[bot]", "APPROVED"),
    ]
    assert listed[2]["commit_id"] == new
    _, page, headers = await call(http, gh, "GET", f"{path}?per_page=2", headers=auth)
    assert len(page) == 2 and 'rel="next"' in headers["Link"]
    status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/99/reviews", headers=auth)
    assert status == 404


# --------------------------------------------------------------------------- checks


def test_pinned_check_run_schema_holds_githubs_limits():
    for method, path in (
        ("POST", "/repos/{owner}/{repo}/check-runs"),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ):
        schema = openapi_operations()[(method, path)]["request_body_schema"]["properties"]
        actions = schema["actions"]
        assert actions["maxItems"] == 3
        assert {k: v["maxLength"] for k, v in actions["items"]["properties"].items()} == {
            "label": 20,
            "description": 40,
            "identifier": 20,
        }
        annotations = schema["output"]["properties"]["annotations"]
        assert annotations["maxItems"] == 50
        level = annotations["items"]["properties"]["annotation_level"]
        assert level["enum"] == ["notice", "warning", "failure"]
        assert "stale" in schema["conclusion"]["enum"]  # allowed by the schema, refused by code


ACTION = {"label": "Fix it", "description": "Ask Codegen to fix this", "identifier": "fix"}
ANNOTATION = {
    "path": "a.py",
    "start_line": 1,
    "end_line": 1,
    "annotation_level": "warning",
    "message": "m",
}
BAD_CHECK_RUN_BODIES = {
    "label over 20": {"actions": [{**ACTION, "label": "x" * 21}]},
    "description over 40": {"actions": [{**ACTION, "description": "x" * 41}]},
    "identifier over 20": {"actions": [{**ACTION, "identifier": "x" * 21}]},
    "4 actions": {"actions": [{**ACTION, "identifier": f"a{i}"} for i in range(4)]},
    "action without identifier": {"actions": [{"label": "x", "description": "y"}]},
    "conclusion enum": {"conclusion": "passed"},
    "stale conclusion": {"conclusion": "stale"},
    "status enum": {"status": "done"},
    "annotation level": {
        "output": {
            "title": "t",
            "summary": "s",
            "annotations": [{**ANNOTATION, "annotation_level": "error"}],
        }
    },
    "51 annotations": {"output": {"title": "t", "summary": "s", "annotations": [ANNOTATION] * 51}},
    "output without summary": {"output": {"title": "t"}},
}


# Required properties are only the schema's to check, so they have no "code only" case.
_SCHEMA_ONLY = ("output without summary", "action without identifier")


@pytest.mark.parametrize(
    ("case", "schema"),
    [(case, "pinned schema") for case in sorted(BAD_CHECK_RUN_BODIES)]
    + [(case, "code only") for case in sorted(BAD_CHECK_RUN_BODIES) if case not in _SCHEMA_ONLY],
)
async def test_check_run_bodies_rejected_like_github(gh, http, monkeypatch, case, schema):
    """422 from the pinned schema, and from the fake's own checks of GitHub's documented
    limits when no schema is used (a later schema may drop one)."""
    from tests.fakes.github import contract as fake_module

    auth = token_auth(gh.issue_token(7))
    status, run, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/check-runs",
        headers=auth,
        json={"name": "codegen", "head_sha": SHA},
    )
    assert status == 201
    if schema == "code only":
        monkeypatch.setattr(fake_module, "_validator", lambda method, path: None)
    bad = BAD_CHECK_RUN_BODIES[case]
    status, body, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/check-runs",
        headers=auth,
        json={"name": "codegen", "head_sha": SHA, **bad},
    )
    assert status == 422, body
    assert body["message"].startswith("Invalid request.")
    status, body, _ = await call(
        http, gh, "PATCH", f"/repos/{REPO}/check-runs/{run['id']}", headers=auth, json=bad
    )
    assert status == 422, body
    assert len(gh.check_runs) == 1 and gh.check_run_actions[run["id"]] == []


async def test_check_run_limit_messages(gh, http):
    auth = token_auth(gh.issue_token(7))
    cases = {
        "label over 20": "For 'properties/actions/items/properties/label', "
        '"xxxxxxxxxxxxxxxxxxxxx" is longer than 20 characters (21).',
        "4 actions": "For 'properties/actions', 4 items are more than the maximum of 3.",
        "51 annotations": "For 'properties/output/properties/annotations', only 50 "
        "annotations are allowed per request.",
        "annotation level": "For 'properties/output/properties/annotations/items/properties/"
        'annotation_level\', "error" is not a member of ["notice", "warning", "failure"].',
    }
    for case, message in cases.items():
        _, body, _ = await call(
            http,
            gh,
            "POST",
            f"/repos/{REPO}/check-runs",
            headers=auth,
            json={"name": "c", "head_sha": SHA, **BAD_CHECK_RUN_BODIES[case]},
        )
        assert body["message"] == "Invalid request.\n\n" + message, case


async def test_check_run_with_three_actions_and_get_one_run(gh, http):
    auth = token_auth(gh.issue_token(7))
    actions = [
        {"label": "x" * 20, "description": "y" * 40, "identifier": f"{i}" + "z" * 19}
        for i in range(3)
    ]
    status, run, _ = await call(
        http,
        gh,
        "POST",
        f"/repos/{REPO}/check-runs",
        headers=auth,
        json={"name": "codegen", "head_sha": SHA, "status": "in_progress", "actions": actions},
    )
    assert status == 201 and gh.check_run_actions[run["id"]] == actions
    status, got, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/check-runs/{run['id']}", headers=auth
    )
    assert status == 200 and got["id"] == run["id"] and got["status"] == "in_progress"
    assert got["app"]["slug"] == "codegen-bot" and got["check_suite"] == run["check_suite"]
    other = gh.add_check_run(OTHER_REPO, name="x", head_sha=SHA)
    for rid in (other["id"], 12345):
        status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}/check-runs/{rid}", headers=auth)
        assert status == 404


async def test_check_runs_across_apps_latest_and_all(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.add_pull(REPO, 11, head_sha=SHA, head_ref="feat")
    failing = gh.add_check_run(
        REPO,
        name="tests",
        head_sha=SHA,
        conclusion="failure",
        app_slug="ci-app",
        output={"title": "2 failed", "summary": "test_a, test_b", "text": "trace"},
        started_at="2026-01-01T10:00:00Z",
        completed_at="2026-01-01T10:05:00Z",
    )
    rerun = gh.add_check_run(
        REPO, name="tests", head_sha=SHA, conclusion="success", app_slug="ci-app"
    )
    same_name = gh.add_check_run(
        REPO, name="tests", head_sha=SHA, status="in_progress", conclusion=None, app_slug="other-ci"
    )
    mine = gh.add_check_run(REPO, name="codegen", head_sha=SHA, status="queued", conclusion=None)
    gh.add_check_run(REPO, name="tests", head_sha="e" * 40, app_slug="ci-app")  # another commit

    base = f"/repos/{REPO}/commits/{SHA}/check-runs"
    _, latest, _ = await call(http, gh, "GET", base, headers=auth)
    assert latest["total_count"] == 3
    assert {(r["app"]["slug"], r["name"], r["id"]) for r in latest["check_runs"]} == {
        ("ci-app", "tests", rerun["id"]),
        ("other-ci", "tests", same_name["id"]),
        ("codegen-bot", "codegen", mine["id"]),
    }
    _, everything, _ = await call(http, gh, "GET", f"{base}?filter=all", headers=auth)
    assert everything["total_count"] == 4
    got = next(r for r in everything["check_runs"] if r["id"] == failing["id"])
    assert got["output"]["title"] == "2 failed" and got["output"]["summary"] == "test_a, test_b"
    assert (got["started_at"], got["completed_at"]) == (
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:05:00Z",
    )
    assert got["check_suite"]["id"] == rerun["check_suite"]["id"]  # one suite per App + commit
    assert got["check_suite"]["id"] != same_name["check_suite"]["id"]
    assert [p["number"] for p in got["pull_requests"]] == [11]
    assert got["pull_requests"][0]["head"] == {
        "ref": "feat",
        "sha": SHA,
        "repo": {"id": gh.repos[REPO]["id"], "url": gh.repos[REPO]["url"], "name": "widgets"},
    }
    app_id = got["app"]["id"]
    _, by_app, _ = await call(http, gh, "GET", f"{base}?filter=all&app_id={app_id}", headers=auth)
    assert {r["id"] for r in by_app["check_runs"]} == {failing["id"], rerun["id"]}
    _, by_name, _ = await call(http, gh, "GET", f"{base}?check_name=codegen", headers=auth)
    assert [r["id"] for r in by_name["check_runs"]] == [mine["id"]]
    _, by_branch, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/commits/feat/check-runs?filter=all", headers=auth
    )
    assert by_branch["total_count"] == 4
    _, paged, headers = await call(http, gh, "GET", f"{base}?filter=all&per_page=3", headers=auth)
    assert paged["total_count"] == 4 and len(paged["check_runs"]) == 3 and "next" in headers["Link"]
    status, _, _ = await call(http, gh, "GET", f"{base}?filter=newest", headers=auth)
    assert status == 422

    suite = gh.check_suite_view(failing["check_suite"]["id"])
    assert (suite["status"], suite["conclusion"], suite["latest_check_runs_count"]) == (
        "completed",
        "success",
        1,
    )
    assert gh.check_suite_view(same_name["check_suite"]["id"])["status"] == "in_progress"
    with pytest.raises(ValueError):
        gh.add_check_run(REPO, name="x", head_sha=SHA, conclusion=None)  # completed, no conclusion


async def test_combined_status(gh, http):
    auth = token_auth(gh.issue_token(7))
    path = f"/repos/{REPO}/commits/{SHA}/status"
    _, empty, _ = await call(http, gh, "GET", path, headers=auth)
    # no statuses at all reads "pending" with total_count 0 -- not a pending CI
    assert (empty["state"], empty["total_count"], empty["statuses"]) == ("pending", 0, [])
    gh.add_status(REPO, SHA, context="ci/a", state="failure", creator="jenkins")
    gh.add_status(REPO, SHA, context="ci/a", state="success", description="fixed")
    gh.add_status(REPO, SHA, context="ci/b", state="success")
    _, combined, _ = await call(http, gh, "GET", path, headers=auth)
    assert combined["state"] == "success" and combined["total_count"] == 2
    assert {s["context"]: s["description"] for s in combined["statuses"]} == {
        "ci/a": "fixed",
        "ci/b": None,
    }
    assert all(set(s) >= {"avatar_url", "url", "id", "node_id"} for s in combined["statuses"])
    gh.add_status(REPO, SHA, context="ci/b", state="error")
    _, combined, _ = await call(http, gh, "GET", path, headers=auth)
    assert combined["state"] == "failure"
    gh.add_status(REPO, SHA, context="ci/c", state="pending")
    _, combined, _ = await call(http, gh, "GET", path, headers=auth)
    assert combined["state"] == "failure"  # failure/error wins over pending
    with pytest.raises(ValueError):
        gh.add_status(REPO, SHA, context="x", state="passed")


async def test_write_overlaps_are_found_per_installation(gh, http):
    """Two label writes at once with one installation's token overlap; the same
    with two installations, or one after the other, do not."""

    async def token(installation: int) -> dict[str, str]:
        _, body, _ = await call(
            http,
            gh,
            "POST",
            f"/app/installations/{installation}/access_tokens",
            headers=bearer(app_jwt()),
        )
        return token_auth(body["token"])

    seven, eight = await token(7), await token(8)

    async def label(repo: str, name: str, auth: dict[str, str]) -> int:
        status, _, _ = await call(
            http, gh, "POST", f"/repos/{repo}/labels", headers=auth, json={"name": name}
        )
        return status

    gh.delay_next("POST", r"/labels$", 0.2, times=4)
    assert await label(REPO, "a", seven) == 201
    assert await label(REPO, "b", seven) == 201
    assert await asyncio.gather(label(REPO, "c", seven), label(OTHER_REPO, "d", eight)) == [201] * 2
    assert gh.write_overlaps() == []
    gh.delay_next("POST", r"/labels$", 0.2, times=2)
    await asyncio.gather(label(REPO, "e", seven), label(REPO, "f", seven))
    [(first, second)] = gh.write_overlaps()
    assert {first.json["name"], second.json["name"]} == {"e", "f"}
