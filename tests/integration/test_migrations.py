"""Migrations: ordered, once each, safe when two processes start together."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from app import migrations

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def empty_dsn(postgres):
    name = f"empty_{os.getpid()}_{id(object())}"
    admin = await asyncpg.connect(postgres.uri("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield postgres.uri(name)
    admin = await asyncpg.connect(postgres.uri("postgres"))
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


def test_migrations_are_numbered_and_ordered():
    files = migrations.discover()
    assert files and files[0].name.startswith("001_")
    numbers = [int(f.name.split("_")[0]) for f in files]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


async def test_two_processes_migrating_together_apply_each_once(empty_dsn):
    conns = [await asyncpg.connect(empty_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrations.migrate(c) for c in conns))
        applied = [name for result in results for name in result]
        expected = [f.name for f in migrations.discover()]
        assert sorted(applied) == sorted(expected)  # once in total, whoever won the lock
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == expected
        assert await migrations.migrate(conns[0]) == []
    finally:
        for c in conns:
            await c.close()


async def test_failing_migration_names_its_file_and_keeps_earlier_ones(empty_dsn, tmp_path):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE broken (id nonsense_type);")
    (tmp_path / "003_later.sql").write_text("CREATE TABLE later (id int);")
    conn = await asyncpg.connect(empty_dsn)
    try:
        with pytest.raises(migrations.MigrationError, match=r"002_broken\.sql"):
            await migrations.migrate(conn, tmp_path)
        versions = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        assert versions == {"001_ok.sql"}
        assert await conn.fetchval("SELECT to_regclass('broken')") is None
        assert await conn.fetchval("SELECT to_regclass('later')") is None
    finally:
        await conn.close()


def test_badly_named_migration_is_refused(tmp_path):
    (tmp_path / "init.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match="NNN_description"):
        migrations.discover(tmp_path)


async def test_cli_migrate_reports_the_failing_file(empty_dsn, tmp_path):
    conn = await asyncpg.connect(empty_dsn)
    await conn.execute("CREATE TABLE webhook_deliveries (id int)")  # collides with 001
    await conn.close()
    for _ in range(2):  # the second run fails the same way: nothing was half-applied
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app", "migrate"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": empty_dsn},
        )
        assert result.returncode == 1
        assert "migration 001_foundation.sql failed" in result.stderr


async def test_serve_stops_at_a_failing_migration_naming_it(empty_dsn, tmp_path):
    conn = await asyncpg.connect(empty_dsn)
    await conn.execute("CREATE TABLE jobs (id int)")  # collides with 001
    await conn.close()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "serve", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": empty_dsn},
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("codegen-bot: migration 001_foundation.sql failed")
    )
