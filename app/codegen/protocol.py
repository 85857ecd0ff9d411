"""What the rest of the bot may ask of Codegen: the one interface both the HTTP
client (`client.CodegenClient`) and the simulated stand-in
(`simulated.SimulatedCodegen`) provide, so callers are typed against it."""

from __future__ import annotations

from typing import Protocol

from app.codegen.runs import AgentRun


class Codegen(Protocol):
    async def create_delay(self) -> float:
        """Seconds a create would wait for the client-side rate limit (0 when none),
        as every process sees it when the limit is shared."""
        ...

    async def create_run(
        self, prompt: str, *, metadata: dict, repo_id: int | None = None
    ) -> AgentRun:
        """Start an agent run; with the same metadata after a lost answer, the same run."""
        ...

    async def get_run(self, run_id: int) -> AgentRun: ...

    async def resume_run(self, run_id: int, prompt: str) -> AgentRun:
        """Send the run's agent further instructions (a follow-up)."""
        ...

    async def ban_run(self, run_id: int) -> None:
        """Stop the run's agents acting on its pull request."""
        ...

    async def unban_run(self, run_id: int) -> None: ...

    async def find_run(self, metadata: dict, *, pages: int = ...) -> AgentRun | None:
        """The run created with this metadata, if any (recovering a lost create)."""
        ...

    async def repo_id(self, full_name: str) -> int | None: ...

    async def aclose(self) -> None: ...
