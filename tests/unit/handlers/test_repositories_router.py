"""handlers/repositories.py's router alone: a repository that moves (renamed or
transferred) is followed; its other `repository` actions reach no handler. What
following does is shown end to end (tests/e2e/test_repository_moves.py)."""

from __future__ import annotations

import pytest

import handlers
from handlers import repositories
from tests.support.routers import dispatch, routed

MOVES = ("renamed", "transferred")
NOT_ROUTED = ("created", "edited", "privatized", "publicized")


@pytest.mark.parametrize("action", MOVES)
def test_the_router_follows_moves(action):
    assert routed(repositories.router, "repository", action)
    assert routed(handlers.router, "repository", action)


@pytest.mark.parametrize("action", NOT_ROUTED)
async def test_other_actions_reach_no_handler(example_payload, action):
    assert not routed(repositories.router, "repository", action)
    assert not routed(handlers.router, "repository", action)
    gh = await dispatch(repositories.router, "repository", example_payload("repository", action))
    assert gh.calls == []
