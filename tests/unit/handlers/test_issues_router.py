"""handlers/issues.py's router alone: which `issues` actions it takes, and the
events it drops before any service (bot senders, labels on pull requests, labels
other than the trigger). A recording GitHub client, no database."""

from __future__ import annotations

import base64

import pytest

import handlers
from handlers import issues
from tests.support.routers import RecordingGitHub, dispatch, routed

ROUTED = ("labeled", "unlabeled", "edited", "closed")
NOT_ROUTED = ("opened", "reopened", "assigned", "deleted", "transferred", "locked")
CONFIG = "/repos/{}/contents/.github/codegen.yml"


def settings_reads(repository: str) -> list[tuple[str, str]]:
    """The repository's settings file, then its organisation's, which it builds on."""
    owner = repository.split("/")[0]
    return [("GET", CONFIG.format(repository)), ("GET", CONFIG.format(f"{owner}/.github"))]


def labeled(example_payload, action: str = "labeled", label: str = "codegen") -> dict:
    payload = example_payload("issues", action)
    payload["label"] = {"id": 1, "name": label, "color": "5319e7", "default": False}
    payload["issue"].pop("pull_request", None)
    payload["sender"] = {"login": "maintainer-mia", "id": 99, "type": "User"}
    return payload


def config_file(text: str) -> dict:
    return {
        "type": "file",
        "encoding": "base64",
        "content": base64.b64encode(text.encode()).decode(),
        "sha": "c" * 40,
    }


@pytest.mark.parametrize("action", ROUTED)
def test_the_router_takes_these_actions(action):
    assert routed(issues.router, "issues", action)
    assert routed(handlers.router, "issues", action)


@pytest.mark.parametrize("action", NOT_ROUTED)
async def test_other_actions_reach_no_handler(example_payload, action):
    assert not routed(issues.router, "issues", action)
    gh = await dispatch(issues.router, "issues", example_payload("issues", action))
    assert gh.calls == []


@pytest.mark.parametrize("action", ["labeled", "unlabeled"])
async def test_a_bot_adding_or_removing_the_label_is_ignored(example_payload, action):
    payload = labeled(example_payload, action)
    payload["sender"] = {"login": "other-app[bot]", "id": 5, "type": "Bot"}
    gh = await dispatch(issues.router, "issues", payload)
    assert gh.calls == []


async def test_the_trigger_label_on_a_pull_request_is_ignored(example_payload):
    payload = labeled(example_payload)
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    gh = await dispatch(issues.router, "issues", payload)
    assert gh.calls == []


@pytest.mark.parametrize("action", ["labeled", "unlabeled"])
async def test_another_label_only_reads_the_settings(example_payload, action):
    payload = labeled(example_payload, action, label="bug")
    gh = await dispatch(issues.router, "issues", payload)
    repository = payload["repository"]["full_name"]
    assert [(c.method, c.url) for c in gh.calls] == settings_reads(repository)
    assert gh.writes == []


async def test_the_default_label_is_not_the_trigger_when_the_repository_renames_it(
    example_payload,
):
    payload = labeled(example_payload, label="codegen")
    settings = CONFIG.format(payload["repository"]["full_name"])
    gh = RecordingGitHub({settings: config_file("trigger_label: agent\n")})
    await dispatch(issues.router, "issues", payload, gh)
    assert [(c.method, c.url) for c in gh.calls] == settings_reads(
        payload["repository"]["full_name"]
    )
