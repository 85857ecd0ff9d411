"""What a running process holds: settings, the database pool and the GitHub App."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.codegen.protocol import Codegen
from app.config import Settings
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
    """Passed to every webhook handler beside the event and the GitHub client."""

    runtime: Runtime
    delivery_id: str
    installation_id: int | None
    received_at: datetime
