"""The REST API (`/api/v1`) end to end: the bot's real server and worker, the
embedded PostgreSQL, the fakes of GitHub and Codegen. Tasks, keys, the
OpenAPI document and the errors every endpoint shares."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.support.api import READ_KEY, WRITE_KEY, call, create_pr, task_body, web_app_routes
from tests.support.bot import running_bot
from tests.support.flow import (
    CODEGEN_PR,
    REPO,
    WRITER,
    bot_comments,
    labeled_event,
    task_status,
    wait_until,
)


@pytest.fixture
def api_settings(flow_settings):
    return dataclasses.replace(
        flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}", f"dashboard:read:{READ_KEY}")
    )


def _checklist(body: str) -> list[str]:
    """The tracking comment's checklist, its links, numbers and levels blanked out."""
    lines = [ln for ln in body.splitlines() if ln.startswith("- [")]
    return [re.sub(r"\(http[^)]*\)|\d+|priority \w+, complexity \w+", "#", ln) for ln in lines]


async def test_a_task_created_through_the_api_reaches_a_pr_like_a_labeled_one(
    api_settings, seeded, fake_codegen, example_payload
):
    labeled_pr = dict(CODEGEN_PR, url=f"https://github.com/{REPO}/pull/20", id=20)
    api_pr = dict(CODEGEN_PR, url=f"https://github.com/{REPO}/pull/21", id=21)
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[labeled_pr])
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[api_pr])
    async with running_bot(api_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "pr_open"))
        await bot.wait_idle()
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        assert status == 201, task
        assert task["status"] == "created" and task["triggered_by"] == "api-key:ci-runner"
        assert task["requirements"] == task_body()["requirements"]
        started = await create_pr(bot, task["id"])
        assert started["attempt"] == 1
        await wait_until(lambda: task_status(bot, "pr_open"))
        await bot.wait_idle()
        status, got, _ = await call(bot, "GET", f"/api/v1/tasks/{task['id']}", key=READ_KEY)
    assert status == 200 and got["status"] == "pr_open"
    assert got["pull_requests"][0]["url"] == api_pr["url"]
    number = got["issue_number"]
    issue = seeded.issues[REPO][number]
    assert issue["title"] == task_body()["title"]
    assert "## Requirements" in issue["body"] and "Priority: high" in issue["body"]
    assert "`ci-runner`" in issue["body"]
    [labeled] = [c for c in bot_comments(seeded) if "codegen-bot:task:" in c["body"]]
    [from_api] = [
        c
        for c in seeded.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "codegen-bot:task:" in c["body"]
    ]
    assert _checklist(from_api["body"]) == _checklist(labeled["body"])
    assert "requested by API key `ci-runner`" in from_api["body"]
    assert "@api-key" not in from_api["body"] and "@ci-runner" not in from_api["body"]
    prompt = fake_codegen.created[1]["prompt"]
    assert "Export the table as JSON" in prompt and "Fixes #" in prompt


async def test_a_lost_settings_note_does_not_fail_a_task_whose_issue_is_open(
    api_settings, seeded, fake_codegen
):
    """The issue is opened, then the note about the repository's unusable
    settings gets a 502: the request still makes its task (201). Failing it
    would have the caller's retry open a second issue."""
    seeded.set_file(REPO, ".github/codegen.yml", "validate: sometimes\n")
    before = set(seeded.issues[REPO])
    seeded.fail_next("POST", r"/issues/\d+/comments$", 502)
    async with running_bot(api_settings) as bot:
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        await bot.wait_idle()
    assert status == 201, task
    assert set(seeded.issues[REPO]) - before == {task["issue_number"]}


async def test_a_task_for_an_existing_issue_uses_the_fields_given(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 50)
    async with running_bot(api_settings) as bot:
        body = task_body(issue_number=7)
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=body)
        assert status == 201, task
        assert task["issue_number"] == 7 and task["title"] == body["title"]
        await create_pr(bot, task["id"])
        await wait_until(lambda: task_status(bot, "running"))
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", json=body)
        assert status == 409 and error["error"] == "conflict", error
        assert f"task {task['id']}" in error["message"]
    assert len(fake_codegen.created) == 1
    assert set(seeded.issues[REPO]) == {7}  # no issue opened


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"repository": "octo-org/not-installed"}, 422, "repository"),
        ({"repository": "no slash"}, 422, "repository"),
        ({"priority": "urgent"}, 422, "priority"),
        ({"title": ""}, 422, "title"),
        ({"issue_number": 404}, 422, "issue_number"),
        ({"surprise": 1}, 422, "surprise"),
        ({"requirements": "one string"}, 422, "requirements"),
        # PostgreSQL's text holds no NUL: refused by name, not a 500 (schemathesis found it)
        ({"description": "a\x00b"}, 422, "description"),
        ({"requirements": ["fine", "nul\x00"]}, 422, "requirements.1"),
        ({"title": "\x00"}, 422, "title"),
    ],
)
async def test_a_task_that_cannot_be_made_is_refused_naming_the_field(
    api_settings, seeded, fake_codegen, change, status, field
):
    async with running_bot(api_settings) as bot:
        got, error, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body(**change))
        assert got == status, error
        assert field in {d["field"] for d in error["details"]}, error
        assert error["message"].startswith(f"body {field}") or field in error["message"]
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 0
    assert fake_codegen.created == []
    assert set(seeded.issues[REPO]) == {7}


async def test_keys_are_required_checked_and_scoped(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        status, error, headers = await call(bot, "GET", "/api/v1/tasks", key=None)
        assert status == 401 and error["error"] == "unauthorized"
        assert "Bearer" in headers["WWW-Authenticate"]
        status, error, _ = await call(bot, "GET", "/api/v1/tasks", key="x" * 32)
        assert status == 401 and "not valid" in error["message"]
        status, page, _ = await call(bot, "GET", "/api/v1/tasks", key=READ_KEY)
        assert status == 200 and page == {"tasks": [], "next_cursor": None}
        status, page, _ = await call(
            bot, "GET", "/api/v1/tasks", key=None, headers={"Authorization": f"Bearer {READ_KEY}"}
        )
        assert status == 200
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", key=READ_KEY, json=task_body())
        assert status == 403 and "dashboard" in error["message"]
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 0


async def test_malformed_json_unknown_tasks_and_large_bodies(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", data=b'{"title": ')
        assert status == 400 and error["error"] == "bad_json"
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", data=b"[1, 2]")
        assert status == 422 and error["error"] == "invalid"
        for path in ("/api/v1/tasks/999", "/api/v1/codegen/status/999", "/api/v1/tasks/abc"):
            status, error, _ = await call(bot, "GET", path, key=READ_KEY)
            assert status == 404 and error["error"] == "not_found", path
        status, error, _ = await call(bot, "GET", "/api/v1/tasks/99999999999999999999999")
        assert status == 404
        big = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", data=big)
        assert status == 413 and error["error"] == "too_large"


async def test_tasks_are_listed_newest_first_with_filters_and_a_cursor(
    api_settings, seeded, fake_codegen
):
    fake_codegen.script_run(statuses=["ACTIVE"] * 100)
    async with running_bot(api_settings) as bot:
        made = []
        for n in range(3):
            status, task, _ = await call(
                bot, "POST", "/api/v1/tasks", json=task_body(title=f"T{n}")
            )
            assert status == 201, task
            made.append(task["id"])
        status, page, _ = await call(bot, "GET", "/api/v1/tasks?limit=2", key=READ_KEY)
        assert status == 200 and [t["id"] for t in page["tasks"]] == made[::-1][:2]
        cursor = page["next_cursor"]
        status, page, _ = await call(bot, "GET", f"/api/v1/tasks?limit=2&cursor={cursor}")
        assert [t["id"] for t in page["tasks"]] == [made[0]] and page["next_cursor"] is None
        status, page, _ = await call(bot, "GET", f"/api/v1/tasks?repository={REPO.upper()}")
        assert len(page["tasks"]) == 3
        status, page, _ = await call(bot, "GET", "/api/v1/tasks?repository=a/b")
        assert page["tasks"] == []
        status, page, _ = await call(bot, "GET", "/api/v1/tasks?created_since=2999-01-01T00:00:00Z")
        assert page["tasks"] == []
        status, page, _ = await call(bot, "GET", "/api/v1/tasks?status=merged")
        assert page["tasks"] == []
        status, error, _ = await call(bot, "GET", "/api/v1/tasks?status=bogus")
        assert status == 422 and error["details"][0]["field"] == "status"
        status, error, _ = await call(bot, "GET", "/api/v1/tasks?limit=0")
        assert status == 422 and error["details"][0]["field"] == "limit"


async def test_the_openapi_document_is_3_1_and_describes_every_route(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        async with bot.session.get(f"{bot.url}/api-docs.json") as response:
            assert response.status == 200
            doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    served = {
        (r.method, r.resource.canonical)
        for r in web_app_routes(bot)
        if r.resource is not None and r.resource.canonical.startswith("/api/v1")
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    create = doc["paths"]["/api/v1/tasks"]["post"]
    schema = doc["components"]["schemas"]["TaskCreate"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TaskCreate"
    )
    assert schema["properties"]["priority"]["enum"] == ["low", "medium", "high", "critical"]
    assert set(schema["required"]) == {"title", "repository"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert {"401", "422", "429"} <= set(op["responses"]), (method, path)


async def test_github_refusals_are_429_with_its_wait_or_502_and_start_nothing(
    api_settings, seeded, fake_codegen
):
    limited = {"message": "You have exceeded a secondary rate limit. Please wait."}
    seeded.fail_next("POST", r"/issues$", 403, body=limited, headers={"Retry-After": "120"})
    seeded.fail_next("POST", r"/issues$", 422, body={"message": "Validation Failed"})
    async with running_bot(api_settings) as bot:
        status, error, headers = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        assert status == 429 and error["error"] == "github_rate_limited", error
        assert headers["Retry-After"] == "120"
        status, error, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body())
        assert status == 502 and error["error"] == "github_error", error
        assert await bot.runtime.pool.fetchval("SELECT count(*) FROM tasks") == 0
    assert fake_codegen.created == []


async def test_list_filters_refuse_what_the_database_could_not_take(api_settings, seeded):
    async with running_bot(api_settings) as bot:
        for query, field in (
            ("created_since=2026-01-01T00:00:00", "created_since"),  # no offset
            ("cursor=9999999999999999999", "cursor"),  # past bigint
            ("cursor=-1", "cursor"),
            ("status=Merged", "status"),
            ("colour=red", "colour"),
        ):
            status, error, _ = await call(bot, "GET", f"/api/v1/tasks?{query}", key=READ_KEY)
            assert status == 422, (query, error)
            assert error["details"][0]["field"] == field, (query, error)
            assert error["message"].startswith(f"query {field}"), error
