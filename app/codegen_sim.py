"""A stand-in for Codegen that needs no network and no API key.

Used when CODEGEN_ENABLE_MOCK_MODE=true or no CODEGEN_API_KEY is set, so the whole
flow (label -> prompt -> run -> pull request -> validation) can be tried locally. It
has the same public interface as `app.codegen.CodegenClient`. Runs go PENDING ->
RUNNING -> COMPLETE over a few `get_run` calls and then report one pull request at
`https://github.com/<metadata["repository"]>/pull/<run id>` on branch
`codegen/<metadata["task_id"]>`. Nothing is random: the same calls give the same runs.
Links point at `codegen.invalid`, a host that cannot exist, and summaries say the run
was simulated, so nobody mistakes the result for real work. State lives in memory: a
process restart forgets the runs (a later `get_run` answers 404).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from .codegen import AgentRun, CodegenError, PullRequestRef, metadata_matches

SIM_HOST = "https://codegen.invalid"
SIM_SUMMARY = (
    "Simulated Codegen run: no agent ran and no code was written "
    "(CODEGEN_ENABLE_MOCK_MODE is on or CODEGEN_API_KEY is not set)."
)
RUN_NOT_FOUND = "Agent run not found."


@dataclass
class _SimRun:
    id: int
    prompt: str
    metadata: dict[str, Any]
    repo_id: int | None
    polls: int = 0  # get_run calls since creation or the last resume
    prompts: list[str] = field(default_factory=list)  # follow-ups from resume_run


class SimulatedCodegen:
    """In-memory Codegen with the CodegenClient interface and a fixed run lifecycle."""

    def __init__(
        self, *, org_id: int = 0, polls_to_complete: int = 3, first_run_id: int = 1
    ) -> None:
        self.org_id = org_id
        self.polls_to_complete = max(1, polls_to_complete)
        self.runs: dict[int, _SimRun] = {}
        self._next_id = first_run_id

    def __repr__(self) -> str:
        return f"SimulatedCodegen(runs={len(self.runs)})"

    def create_delay(self) -> float:
        """No limit to wait for."""
        return 0.0

    async def create_run(
        self, prompt: str, *, metadata: dict, repo_id: int | None = None
    ) -> AgentRun:
        """Record the run; it starts PENDING."""
        run = _SimRun(self._next_id, prompt, dict(metadata), repo_id)
        self._next_id += 1
        self.runs[run.id] = run
        return self._view(run)

    async def get_run(self, run_id: int) -> AgentRun:
        """Advance the run one step: RUNNING until the last poll, then COMPLETE."""
        run = self._get(run_id)
        run.polls += 1
        return self._view(run)

    async def resume_run(self, run_id: int, prompt: str) -> AgentRun:
        """Record the follow-up and start the lifecycle again (PENDING)."""
        run = self._get(run_id)
        run.prompts.append(prompt)
        run.polls = 0
        return self._view(run)

    async def ban_run(self, run_id: int) -> None:
        """No agent runs here, so nothing to stop: accepted as a no-op."""

    async def unban_run(self, run_id: int) -> None:
        """Accepted as a no-op, like `ban_run`."""

    async def find_run(self, metadata: dict, *, pages: int = 1) -> AgentRun | None:
        """The newest run whose metadata contains `metadata`."""
        for run in sorted(self.runs.values(), key=lambda r: r.id, reverse=True):
            if metadata_matches(run.metadata, metadata):
                return self._view(run)
        return None

    async def repo_id(self, full_name: str) -> int | None:
        """A stable made-up id per repository (every repository "exists")."""
        return zlib.crc32(full_name.strip().lower().encode()) % 1_000_000 + 1

    async def aclose(self) -> None:
        """Nothing to release; present so callers can treat both clients alike."""
        return None

    def _get(self, run_id: int) -> _SimRun:
        run = self.runs.get(int(run_id))
        if run is None:
            raise CodegenError(RUN_NOT_FOUND, status=404, retryable=False)
        return run

    def _status(self, run: _SimRun) -> str:
        if run.polls == 0:
            return "PENDING"
        if run.polls < self.polls_to_complete:
            return "RUNNING"
        return "COMPLETE"

    def _view(self, run: _SimRun) -> AgentRun:
        status = self._status(run)
        prs: tuple[PullRequestRef, ...] = ()
        summary = result = None
        if status == "COMPLETE":
            repo = str(run.metadata.get("repository") or "example/repository")
            task = run.metadata.get("task_id", f"run-{run.id}")
            prs = (
                PullRequestRef(
                    id=run.id,
                    url=f"https://github.com/{repo}/pull/{run.id}",
                    title=f"[simulated] Codegen run {run.id}",
                    head_branch=f"codegen/{task}",
                ),
            )
            summary = SIM_SUMMARY
            result = SIM_SUMMARY
        return AgentRun(
            id=run.id,
            status=status,
            web_url=f"{SIM_HOST}/runs/{run.id}",
            summary=summary,
            result=result,
            pull_requests=prs,
            metadata=dict(run.metadata),
        )
