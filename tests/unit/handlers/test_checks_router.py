"""handlers/checks.py's router alone: which `check_run`, `check_suite` and
`status` events it takes, and the ones it drops before any service: our own
check run finishing, a pending status. A recording GitHub client, no database."""

from __future__ import annotations

import pytest

import handlers
from app.validation.report import CHECK_NAME
from handlers import checks
from tests.support.routers import dispatch, routed

ROUTED = [
    ("check_run", "completed"),
    ("check_run", "rerequested"),
    ("check_run", "requested_action"),
    ("check_suite", "completed"),
    ("check_suite", "rerequested"),
]
NOT_ROUTED = [("check_run", "created"), ("check_suite", "requested")]


@pytest.mark.parametrize(("name", "action"), ROUTED)
def test_the_router_takes_these_actions(name, action):
    assert routed(checks.router, name, action)
    assert routed(handlers.router, name, action)


def test_the_router_takes_every_status():
    assert routed(checks.router, "status")
    assert routed(handlers.router, "status")


@pytest.mark.parametrize(("name", "action"), NOT_ROUTED)
async def test_other_actions_reach_no_handler(example_payload, name, action):
    assert not routed(checks.router, name, action)
    gh = await dispatch(checks.router, name, example_payload(name, action))
    assert gh.calls == []


async def test_our_own_check_run_finishing_is_not_ci(example_payload):
    payload = example_payload("check_run", "completed")
    payload["check_run"]["name"] = CHECK_NAME
    gh = await dispatch(checks.router, "check_run", payload)
    assert gh.calls == []


async def test_a_pending_status_changes_nothing(example_payload):
    payload = example_payload("status")
    payload["state"] = "pending"
    gh = await dispatch(checks.router, "status", payload)
    assert gh.calls == []
