"""handlers/pull_requests.py's router alone: which `pull_request` actions it
takes, and that a draft or a pull request no longer open is not validated (nothing
read, nothing stored). A recording GitHub client, no database."""

from __future__ import annotations

import pytest

import handlers
from handlers import pull_requests
from tests.support.routers import dispatch, routed

CHANGED = ("opened", "reopened", "synchronize", "ready_for_review")
NOT_ROUTED = (
    "assigned",
    "converted_to_draft",
    "labeled",
    "unlabeled",
    "locked",
    "review_requested",
)


@pytest.mark.parametrize("action", (*CHANGED, "closed"))
def test_the_router_takes_these_actions(action):
    assert routed(pull_requests.router, "pull_request", action)
    assert routed(handlers.router, "pull_request", action)


@pytest.mark.parametrize("action", NOT_ROUTED)
async def test_other_actions_reach_no_handler(example_payload, action):
    assert not routed(pull_requests.router, "pull_request", action)
    payload = example_payload("pull_request", action)
    gh = await dispatch(pull_requests.router, "pull_request", payload)
    assert gh.calls == []


@pytest.mark.parametrize("action", CHANGED)
async def test_a_draft_is_not_validated(example_payload, action):
    payload = example_payload("pull_request", action)
    payload["pull_request"].update(state="open", draft=True)
    gh = await dispatch(pull_requests.router, "pull_request", payload)
    assert gh.calls == []


@pytest.mark.parametrize("action", CHANGED)
async def test_a_pull_request_no_longer_open_is_not_validated(example_payload, action):
    payload = example_payload("pull_request", action)
    payload["pull_request"].update(state="closed", draft=False)
    gh = await dispatch(pull_requests.router, "pull_request", payload)
    assert gh.calls == []
