"""Commit statuses: seeding and the combined status of a ref."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.github.routing import Ctx, Reply
from tests.fakes.github.util import _iso, _node_id


class StatusesMixin:
    """Commit statuses (the state lives on `FakeGitHub`)."""

    def add_status(
        self,
        full_name: str,
        sha: str,
        *,
        context: str,
        state: str,
        description: str | None = None,
        target_url: str | None = None,
        creator: str = "ci-bot",
    ) -> dict[str, Any]:
        """A legacy commit status (pending|success|failure|error)."""
        full = self._canonical(full_name)
        if state not in ("pending", "success", "failure", "error"):
            raise ValueError(f"unknown commit status state {state!r}")
        status_id = self._next_id("status")
        user = self.user(creator)
        status = {
            "url": f"{self.url}/repos/{full}/statuses/{sha}",
            "avatar_url": user["avatar_url"],
            "id": status_id,
            "node_id": _node_id("StatusContext", status_id),
            "state": state,
            "description": description,
            "target_url": target_url,
            "context": context,
            "created_at": _iso(),
            "updated_at": _iso(),
            "creator": user,
        }
        self.statuses.setdefault((full, sha), []).insert(0, status)
        return status

    def _combined_status(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        ref = ctx.params["ref"]
        sha = self.refs.get((ctx.full_name, ref.removeprefix("heads/")), ref)
        latest: dict[str, dict[str, Any]] = {}
        for s in self.statuses.get((ctx.full_name, sha), []):  # newest first
            latest.setdefault(s["context"], s)
        # the combined view lists "simple" statuses: no `creator`
        statuses = [{k: v for k, v in s.items() if k != "creator"} for s in latest.values()]
        states = {s["state"] for s in statuses}
        if states & {"failure", "error"}:
            state = "failure"
        elif not statuses or "pending" in states:
            state = "pending"
        else:
            state = "success"
        return 200, {
            "state": state,
            "statuses": copy.deepcopy(statuses),
            "sha": sha,
            "total_count": len(statuses),
            "repository": copy.deepcopy(ctx.repo),
            "commit_url": f"{self.url}/repos/{ctx.full_name}/commits/{sha}",
            "url": f"{self.url}/repos/{ctx.full_name}/commits/{sha}/status",
        }
