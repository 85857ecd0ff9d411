"""What a running process holds: settings, the database pool and the GitHub App."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.codegen.protocol import Codegen
from app.config import Settings
from app.github import permissions
from app.github.client import GitHubApp


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    dsn: str
    github: GitHubApp
    codegen: Codegen  # CodegenClient or SimulatedCodegen
    codegen_simulated: bool


@dataclass(frozen=True)
class HandlerContext:
    """Passed to every webhook handler beside the event and the GitHub client.

    Like Probot's context it answers the questions every handler asks (which
    repository, who sent it, is that a bot, who are we), so none rebuilds them."""

    runtime: Runtime
    delivery_id: str
    installation_id: int | None
    received_at: datetime

    @staticmethod
    def repo(data: dict[str, Any]) -> str:
        """The `owner/name` of the repository the event is about."""
        return data["repository"]["full_name"]

    @staticmethod
    def sender(data: dict[str, Any]) -> dict[str, Any]:
        """The account whose action sent the event."""
        return data["sender"]

    @staticmethod
    def is_bot(user: dict[str, Any]) -> bool:
        """A GitHub App's account (ours included): never obeyed, never answered."""
        return permissions.is_bot(user)

    async def bot_login(self) -> str:
        """Our bot user's login, the author of everything the bot writes."""
        return await self.runtime.github.bot_login()
