"""handlers/repositories.py's router alone: a repository that moves (renamed or
transferred) is followed; one created, edited or unarchived has its cached
settings files forgotten; its other `repository` actions reach no handler. What
following does is shown end to end (tests/e2e/test_repository_moves.py), and
forgetting (tests/e2e/test_settings_changes.py)."""

from __future__ import annotations

import pytest

import handlers
from handlers import repositories
from tests.support.routers import dispatch, routed

MOVES = ("renamed", "transferred")
SETTINGS = ("created", "edited", "unarchived")  # the settings read from it may differ
NOT_ROUTED = ("privatized", "publicized")


@pytest.mark.parametrize("action", MOVES)
def test_the_router_follows_moves(action):
    assert routed(repositories.router, "repository", action)
    assert routed(handlers.router, "repository", action)


@pytest.mark.parametrize("action", SETTINGS)
def test_the_router_forgets_settings_of_a_repository_created_or_edited(action):
    assert routed(repositories.router, "repository", action)
    assert routed(handlers.router, "repository", action)


@pytest.mark.parametrize("action", NOT_ROUTED)
async def test_other_actions_reach_no_handler(example_payload, action):
    assert not routed(repositories.router, "repository", action)
    assert not routed(handlers.router, "repository", action)
    gh = await dispatch(repositories.router, "repository", example_payload("repository", action))
    assert gh.calls == []
