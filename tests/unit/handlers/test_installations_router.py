"""handlers/installations.py's router alone: the `installation` and
`installation_repositories` actions it takes (every one GitHub sends), and that
the App's own events reach nothing else. Every action it takes records the
installation first, so what they do is shown end to end
(tests/e2e/test_installations.py)."""

from __future__ import annotations

import pytest

import handlers
from handlers import installations
from tests.support.routers import dispatch, routed

ROUTED = [
    ("installation", "created"),
    ("installation", "deleted"),
    ("installation", "new_permissions_accepted"),
    ("installation", "suspend"),
    ("installation", "unsuspend"),
    ("installation_repositories", "added"),
    ("installation_repositories", "removed"),
]


@pytest.mark.parametrize(("name", "action"), ROUTED)
def test_the_router_takes_every_installation_action(name, action):
    assert routed(installations.router, name, action)
    assert routed(handlers.router, name, action)


@pytest.mark.parametrize(
    ("name", "action"), [("installation", "renamed"), ("installation_target", "renamed")]
)
async def test_other_events_reach_no_handler(example_payload, name, action):
    assert not routed(installations.router, name, action)
    payload = example_payload("installation", "created")
    payload["action"] = action
    gh = await dispatch(installations.router, name, payload)
    assert gh.calls == []
