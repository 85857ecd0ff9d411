"""handlers/pushes.py's router alone: every `push` reaches it (whether it moved
a default branch is decided in app/repo_settings/changes.py, tested in
tests/unit/test_settings_cache.py; end to end in tests/e2e/test_settings_changes.py)."""

from __future__ import annotations

import handlers
from handlers import pushes
from tests.support.routers import routed


def test_a_push_is_routed():
    assert routed(pushes.router, "push")
    assert routed(handlers.router, "push")
