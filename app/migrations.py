"""Numbered `.sql` migrations, applied in order, each once, under an advisory
lock so two processes starting together do not race."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x636F6465  # "code": any constant shared by every process of this app
_NAME = re.compile(r"^(\d+)_[\w.-]+\.sql$")


class MigrationError(Exception):
    pass


def discover(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Migration files in numeric order; a stray or duplicate number is an error."""
    files = []
    seen: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        number = int(match.group(1))
        if number in seen:
            raise MigrationError(f"{path.name}: number {number} is also used by {seen[number]}")
        seen[number] = path.name
        files.append((number, path))
    return [path for _, path in sorted(files)]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    files = discover(directory)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in files:
            if path.name in done:
                continue
            sql = path.read_text()
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", path.name
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {path.name} failed: {exc}") from exc
            log.info("applied migration %s", path.name)
            applied_now.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
