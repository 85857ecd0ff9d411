"""The fake GitHub's review requests keep GitHub's contract: never the PR's
author (422), only collaborators and the repository's teams (422), against
the pinned request schema; the PR comes back with its requested reviewers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes import FakeGitHub, make_app_key

REPO = "octo-org/widgets"


@pytest.fixture
async def gh() -> AsyncIterator[FakeGitHub]:
    _, public_pem = make_app_key()
    fake = FakeGitHub(app_id=31337, public_key_pem=public_pem)
    await fake.start()
    fake.add_repo(REPO, installation_id=7)
    fake.add_pull(REPO, 3, user="codegen-agent")
    fake.set_permission(REPO, "mia", "write")
    fake.add_team(REPO, "core")
    yield fake
    await fake.close()
    assert not fake.server_errors, fake.server_errors


async def _ask(gh: FakeGitHub, body: Any) -> tuple[int, Any]:
    headers = {
        "Authorization": f"token {gh.issue_token(7)}",
        "Accept": "application/vnd.github+json",
        "User-Agent": "codegen-bot-tests",
    }
    url = f"{gh.url}/repos/{REPO}/pulls/3/requested_reviewers"
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers, json=body) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def test_collaborators_and_teams_are_requested(gh):
    status, pull = await _ask(gh, {"reviewers": ["mia"], "team_reviewers": ["core"]})
    assert status == 201, pull
    assert [u["login"] for u in pull["requested_reviewers"]] == ["mia"]
    assert [t["slug"] for t in pull["requested_teams"]] == ["core"]
    status, pull = await _ask(gh, {"reviewers": ["MIA"]})  # again: no duplicate
    assert status == 201 and len(pull["requested_reviewers"]) == 1


async def test_the_author_is_refused(gh):
    status, body = await _ask(gh, {"reviewers": ["codegen-agent"]})
    assert status == 422 and "author" in body["message"]
    assert gh.pulls[REPO][3]["requested_reviewers"] == []


@pytest.mark.parametrize(
    "body",
    [{"reviewers": ["stranger"]}, {"team_reviewers": ["ghosts"]}, {"reviewers": ["mia", "x"]}],
)
async def test_who_is_not_a_collaborator_is_refused_and_nobody_is_asked(gh, body):
    status, answer = await _ask(gh, body)
    assert status == 422 and "collaborators" in answer["message"]
    assert gh.pulls[REPO][3]["requested_reviewers"] == []


async def test_the_pinned_schema_is_enforced(gh):
    status, _ = await _ask(gh, {"reviewers": "mia"})  # not an array
    assert status == 422
    status, _ = await _ask(gh, {})
    assert status == 422
