"""A stand-in for Codegen that needs no network and no API key.

Used when CODEGEN_ENABLE_MOCK_MODE=true or no CODEGEN_API_KEY is set, so the whole
flow (label -> prompt -> run -> tracking comment) can be tried locally. It has the
same public interface as `app.codegen.CodegenClient`, and its answers have the shape
of Codegen's AgentRunResponse. Runs go PENDING -> RUNNING -> COMPLETE over a few
`get_run` calls and then report what a real run would have done, in words, and no
pull request: a simulated run never opens one, so it never reports one that could be
taken for a real pull request of the repository. Links point at `codegen.invalid`, a
host that cannot exist. Runs live in PostgreSQL (`simulated_runs`): they survive a
restart and any worker process can poll them. Nothing is random: the same calls on a
fresh database give the same runs.
"""

from __future__ import annotations

import zlib
from typing import Any

import asyncpg

from app.codegen import simulated_store as simulated_runs
from app.codegen.runs import AgentRun, CodegenError, metadata_matches
from app.codegen.simulated_store import SimulatedRun

SIM_HOST = "https://codegen.invalid"
SIM_SUMMARY = (
    "Simulated Codegen run: no agent ran, no code was written and no pull request was "
    "opened (CODEGEN_ENABLE_MOCK_MODE is on or CODEGEN_API_KEY is not set). With a Codegen "
    "API key the agent would implement the task and open a pull request."
)
RUN_NOT_FOUND = "Agent run not found."
FIND_RUN_LIMIT = 100  # runs compared by find_run, as one page of the real API


def status_after(polls: int, polls_to_complete: int) -> str:
    """A run's status after `polls` get_run calls: PENDING, RUNNING, then COMPLETE."""
    if polls <= 0:
        return "PENDING"
    if polls < polls_to_complete:
        return "RUNNING"
    return "COMPLETE"


def response_body(
    *,
    run_id: int,
    org_id: int,
    polls: int,
    polls_to_complete: int,
    metadata: dict[str, Any],
    created_at: str,
) -> dict[str, Any]:
    """The run as Codegen's AgentRunResponse would give it. `github_pull_requests`
    is always empty: whatever a simulated run says, it opened nothing."""
    status = status_after(polls, polls_to_complete)
    done = SIM_SUMMARY if status == "COMPLETE" else None
    return {
        "id": run_id,
        "organization_id": org_id,
        "status": status,
        "created_at": created_at,
        "web_url": f"{SIM_HOST}/runs/{run_id}",
        "result": done,
        "summary": done,
        "source_type": "API",
        "github_pull_requests": [],
        "metadata": dict(metadata),
    }


class SimulatedCodegen:
    """Codegen with the CodegenClient interface and a fixed run lifecycle, its runs
    kept in the database."""

    def __init__(self, pool: asyncpg.Pool, *, org_id: int = 0, polls_to_complete: int = 3) -> None:
        self._pool = pool
        self.org_id = int(org_id)
        self.polls_to_complete = max(1, polls_to_complete)

    def __repr__(self) -> str:
        return f"SimulatedCodegen(org_id={self.org_id})"

    async def create_delay(self) -> float:
        """No limit to wait for."""
        return 0.0

    async def create_run(
        self, prompt: str, *, metadata: dict, repo_id: int | None = None
    ) -> AgentRun:
        """Record the run; it starts PENDING."""
        run = await simulated_runs.create(
            self._pool, org_id=self.org_id, prompt=prompt, metadata=metadata, repo_id=repo_id
        )
        return self._view(run)

    async def get_run(self, run_id: int) -> AgentRun:
        """Advance the run one step: RUNNING until the last poll, then COMPLETE."""
        run = await simulated_runs.count_poll(self._pool, self.org_id, int(run_id))
        return self._view(self._found(run))

    async def resume_run(self, run_id: int, prompt: str) -> AgentRun:
        """Record the follow-up and start the lifecycle again (PENDING)."""
        run = await simulated_runs.resume(self._pool, self.org_id, int(run_id), prompt)
        return self._view(self._found(run))

    async def ban_run(self, run_id: int) -> None:
        """No agent runs here, so nothing to stop: accepted as a no-op."""

    async def unban_run(self, run_id: int) -> None:
        """Accepted as a no-op, like `ban_run`."""

    async def find_run(self, metadata: dict, *, pages: int = 1) -> AgentRun | None:
        """The newest run whose metadata contains `metadata` (empty matches nothing)."""
        if not metadata:
            return None
        candidates = await simulated_runs.newest_containing(
            self._pool, self.org_id, metadata, FIND_RUN_LIMIT * max(1, pages)
        )
        for run in candidates:
            if metadata_matches(run.metadata, metadata):
                return self._view(run)
        return None

    async def repo_id(self, full_name: str) -> int | None:
        """A stable made-up id per repository (every repository "exists")."""
        return zlib.crc32(full_name.strip().lower().encode()) % 1_000_000 + 1

    async def aclose(self) -> None:
        """Nothing to release (the pool is the caller's); present so callers can
        treat both clients alike."""
        return None

    @staticmethod
    def _found(run: SimulatedRun | None) -> SimulatedRun:
        if run is None:
            raise CodegenError(RUN_NOT_FOUND, status=404, retryable=False)
        return run

    def _view(self, run: SimulatedRun) -> AgentRun:
        return AgentRun.from_api(
            response_body(
                run_id=run.id,
                org_id=run.org_id,
                polls=run.polls,
                polls_to_complete=self.polls_to_complete,
                metadata=run.metadata,
                created_at=run.created_at.isoformat(),
            )
        )
