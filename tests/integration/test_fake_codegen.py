"""The fake Codegen holds callers to Codegen's published contract (raw HTTP, no client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.fakes.codegen import FakeCodegen

KEY = "fake-key-123"
ORG = 42
AUTH = {"Authorization": f"Bearer {KEY}"}
SUBSET = json.loads((Path(__file__).parents[1] / "data/codegen-openapi-subset.json").read_text())
OPS = {(o["method"], o["path"]): o for o in SUBSET["operations"]}
RUN_SCHEMA = OPS[("GET", "/v1/organizations/{org_id}/agent/run/{agent_run_id}")]["responses"][
    "200"
]["schema"]
VALIDATION_SCHEMA = OPS[("POST", "/v1/organizations/{org_id}/agent/run")]["responses"]["422"][
    "schema"
]
BASE = f"/v1/organizations/{ORG}"


@pytest.fixture
async def cg() -> AsyncIterator[FakeCodegen]:
    async with FakeCodegen(api_key=KEY, org_id=ORG) as fake:
        fake.add_repo("octo-org/widgets", repo_id=11)
        yield fake


@pytest.fixture
async def http(cg: FakeCodegen) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cg.url, timeout=5) as client:
        yield client


def test_subset_is_pinned_and_dereferenced() -> None:
    assert SUBSET["source"]["repository"] == "codegen-sh/codegen"
    assert len(SUBSET["source"]["commit"]) == 40
    assert "$ref" not in json.dumps(SUBSET)
    assert {o["path"] for o in SUBSET["operations"]} == {
        "/v1/organizations/{org_id}/agent/run",
        "/v1/organizations/{org_id}/agent/run/{agent_run_id}",
        "/v1/organizations/{org_id}/agent/run/resume",
        "/v1/organizations/{org_id}/agent/run/ban",
        "/v1/organizations/{org_id}/agent/run/unban",
        "/v1/organizations/{org_id}/agent/runs",
        "/v1/organizations/{org_id}/repos",
    }
    for op in SUBSET["operations"]:
        assert op["path_parameters"]["org_id"]["schema"]["type"] == "integer"
        for response in op["responses"].values():
            if response["schema"]:
                Draft202012Validator.check_schema(response["schema"])


async def test_create_get_follow_the_spec(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    cg.script_run(
        statuses=["ACTIVE", "COMPLETE"],
        pull_requests=[{"url": "https://github.com/octo-org/widgets/pull/5", "title": "Fix"}],
        summary="done",
    )
    r = await http.post(
        f"{BASE}/agent/run",
        json={"prompt": "hi", "repo_id": 11, "metadata": {"t": 1}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    run = r.json()
    Draft202012Validator(RUN_SCHEMA).validate(run)
    assert set(run) == set(RUN_SCHEMA["properties"])
    assert (
        run["organization_id"] == ORG and run["status"] == "ACTIVE" and run["metadata"] == {"t": 1}
    )
    first = (await http.get(f"{BASE}/agent/run/{run['id']}", headers=AUTH)).json()
    second = (await http.get(f"{BASE}/agent/run/{run['id']}", headers=AUTH)).json()
    assert (first["status"], second["status"]) == ("ACTIVE", "COMPLETE")
    assert first["github_pull_requests"] == [] and second["summary"] == "done"
    pr = second["github_pull_requests"][0]
    assert set(pr) == {"id", "title", "url", "created_at", "head_branch_name"}
    assert cg.created == [{"prompt": "hi", "repo_id": 11, "metadata": {"t": 1}}]


async def test_run_ids_increase(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    ids = [
        (await http.post(f"{BASE}/agent/run", json={"prompt": str(i)}, headers=AUTH)).json()["id"]
        for i in range(3)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_bad_token_is_401(cg: FakeCodegen, http: httpx.AsyncClient, headers: dict) -> None:
    r = await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=headers)
    assert r.status_code == 401 and isinstance(r.json()["detail"], str)
    assert cg.runs == {}


async def test_org_must_be_an_integer_and_ours(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/organizations/acme/agent/run/1", headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "org_id"]
    assert r.json()["detail"][0]["type"] == "int_parsing"
    r = await http.post(
        f"/v1/organizations/{ORG + 1}/agent/run", json={"prompt": "x"}, headers=AUTH
    )
    assert r.status_code == 403
    assert r.json() == {
        "message": "You do not have access to this organization.",
        "status_code": 403,
    }


async def test_unknown_run_is_404_with_the_spec_message(http: httpx.AsyncClient) -> None:
    r = await http.get(f"{BASE}/agent/run/999", headers=AUTH)
    assert r.status_code == 404 and r.json() == {
        "message": "Agent run not found.",
        "status_code": 404,
    }
    r = await http.post(
        f"{BASE}/agent/run/resume", json={"agent_run_id": 999, "prompt": "x"}, headers=AUTH
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "loc", "type_"),
    [
        ({}, ["body", "prompt"], "missing"),
        ({"prompt": 5}, ["body", "prompt"], "string_type"),
        ({"prompt": "x", "repo_id": "eleven"}, ["body", "repo_id"], "int_type"),
        ({"prompt": "x", "agent_type": "gpt"}, ["body", "agent_type"], "literal_error"),
        ({"prompt": "x", "metadata": [1]}, ["body", "metadata"], "dict_type"),
        ([1], ["body"], "model_attributes_type"),
    ],
)
async def test_invalid_bodies_are_422_in_fastapi_shape(
    cg: FakeCodegen, http: httpx.AsyncClient, body: object, loc: list, type_: str
) -> None:
    r = await http.post(f"{BASE}/agent/run", json=body, headers=AUTH)
    assert r.status_code == 422
    Draft202012Validator(VALIDATION_SCHEMA).validate(r.json())
    assert {"loc": loc, "type": type_} in [
        {"loc": d["loc"], "type": d["type"]} for d in r.json()["detail"]
    ]
    assert cg.created == []


async def test_broken_json_and_missing_body(http: httpx.AsyncClient) -> None:
    r = await http.post(
        f"{BASE}/agent/run", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = await http.post(f"{BASE}/agent/run/resume", headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]


async def test_extra_body_fields_are_ignored_like_pydantic(http: httpx.AsyncClient) -> None:
    r = await http.post(f"{BASE}/agent/run", json={"prompt": "x", "colour": "red"}, headers=AUTH)
    assert r.status_code == 200


async def test_unknown_repo_and_no_repos(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    r = await http.post(f"{BASE}/agent/run", json={"prompt": "x", "repo_id": 12345}, headers=AUTH)
    assert r.status_code == 404
    cg.repos.clear()
    r = await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 404 and r.json()["message"].startswith("No repos found")


async def test_resume_records_and_restarts(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    run = (await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)).json()
    cg.set_run(run["id"], status="COMPLETE", summary="first pass")
    cg.script_resume(statuses=["RUNNING", "FAILED"], initial_status="PENDING")
    r = await http.post(
        f"{BASE}/agent/run/resume",
        json={"agent_run_id": run["id"], "prompt": "add tests"},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["status"] == "PENDING"
    assert cg.resumed == [{"agent_run_id": run["id"], "prompt": "add tests"}]
    statuses = [
        (await http.get(f"{BASE}/agent/run/{run['id']}", headers=AUTH)).json()["status"]
        for _ in range(3)
    ]
    assert statuses == ["RUNNING", "FAILED", "FAILED"]


async def test_ban_stops_the_run_and_unban_lifts_it(
    cg: FakeCodegen, http: httpx.AsyncClient
) -> None:
    run = (await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)).json()
    r = await http.post(f"{BASE}/agent/run/ban", json={"agent_run_id": run["id"]}, headers=AUTH)
    assert r.status_code == 200 and r.json() is None
    assert cg.banned == {run["id"]}
    got = (await http.get(f"{BASE}/agent/run/{run['id']}", headers=AUTH)).json()
    assert got["status"] == "STOPPED"
    r = await http.post(f"{BASE}/agent/run/unban", json={"agent_run_id": run["id"]}, headers=AUTH)
    assert r.status_code == 200 and cg.banned == set()
    assert [b["action"] for b in cg.bans] == ["ban", "unban"]


async def test_ban_is_held_to_stop_agent_run_input(http: httpx.AsyncClient) -> None:
    r = await http.post(f"{BASE}/agent/run/ban", json={"run": 1}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "agent_run_id"]
    r = await http.post(f"{BASE}/agent/run/ban", json={"agent_run_id": "x"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "int_type"
    r = await http.post(f"{BASE}/agent/run/unban", json={"agent_run_id": 999}, headers=AUTH)
    assert r.status_code == 404 and r.json()["message"] == "Agent run not found."


async def test_set_run_rejects_fields_outside_the_spec(
    cg: FakeCodegen, http: httpx.AsyncClient
) -> None:
    run = (await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)).json()
    with pytest.raises(ValueError, match="not AgentRunResponse fields"):
        cg.set_run(run["id"], pr_url="x")
    with pytest.raises(ValueError, match="not GithubPullRequestResponse fields"):
        cg.set_run(run["id"], github_pull_requests=[{"url": "u", "head_branch": "b"}])


async def test_repos_page_with_skip_and_limit(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    for i in range(4):
        cg.add_repo(f"octo-org/r{i}", github_id=100 + i)
    page = (await http.get(f"{BASE}/repos", params={"skip": 2, "limit": 2}, headers=AUTH)).json()
    assert {k: page[k] for k in ("total", "page", "size", "pages")} == {
        "total": 5,
        "page": 2,
        "size": 2,
        "pages": 3,
    }
    assert [r["full_name"] for r in page["items"]] == ["octo-org/r1", "octo-org/r2"]
    assert page["items"][0]["github_id"] == "101"  # a string in RepoResponse
    r = await http.get(f"{BASE}/repos", params={"limit": 101}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "less_than_equal"


async def test_list_runs_newest_first(cg: FakeCodegen, http: httpx.AsyncClient) -> None:
    for i in range(3):
        await http.post(
            f"{BASE}/agent/run", json={"prompt": str(i), "metadata": {"i": i}}, headers=AUTH
        )
    page = (await http.get(f"{BASE}/agent/runs", params={"limit": 2}, headers=AUTH)).json()
    assert [r["metadata"]["i"] for r in page["items"]] == [2, 1] and page["total"] == 3


async def test_server_side_create_limit_answers_429_with_retry_after() -> None:
    async with FakeCodegen(api_key=KEY, org_id=ORG, creates_per_window=2) as fake:
        fake.add_repo("o/r")
        async with httpx.AsyncClient(base_url=fake.url) as http:
            codes = [
                (
                    await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)
                ).status_code
                for _ in range(3)
            ]
            assert codes == [200, 200, 429]
            last = fake.requests[-1]
            assert last.status == 429
            r = await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)
            assert r.json() == {
                "message": "Rate limit exceeded. Please try again later.",
                "status_code": 429,
            }
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            # gets have their own bucket
            assert (await http.get(f"{BASE}/agent/runs", headers=AUTH)).status_code == 200


async def test_fail_next_uses_the_api_error_bodies(
    cg: FakeCodegen, http: httpx.AsyncClient
) -> None:
    cg.fail_next("POST", r"/agent/run$", 402)
    cg.fail_next("GET", r"/repos$", 500, times=2)
    r = await http.post(f"{BASE}/agent/run", json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 402
    assert r.json()["message"].startswith("Alloted agent runs for the current billing plan")
    for _ in range(2):
        r = await http.get(f"{BASE}/repos", headers=AUTH)
        assert r.status_code == 500 and r.text == "Internal Server Error"
    assert (await http.get(f"{BASE}/repos", headers=AUTH)).status_code == 200
    assert [c.status for c in cg.calls("GET", r"/repos$")] == [500, 500, 200]


async def test_unknown_routes(http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{BASE}/nope", headers=AUTH)).json() == {"detail": "Not Found"}
    assert (await http.delete(f"{BASE}/agent/run/1", headers=AUTH)).status_code == 405


async def test_max_creates_in_a_window_counts_only_successful_creates(
    cg: FakeCodegen, http: httpx.AsyncClient
) -> None:
    for i in range(3):
        r = await http.post(f"{BASE}/agent/run", json={"prompt": str(i)}, headers=AUTH)
        assert r.status_code == 200
    await http.post(f"{BASE}/agent/run", json={}, headers=AUTH)  # 422: not a create
    assert cg.max_creates_in(60) == 3
    assert cg.max_creates_in(0) == 0
