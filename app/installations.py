"""The `installations` and `repositories` tables: what the App is installed on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson


async def upsert_installation(conn: asyncpg.Connection, installation: dict[str, Any]) -> None:
    account = installation.get("account") or {}
    await conn.execute(
        """INSERT INTO installations (id, account_login, account_id, account_type, target_type,
                                      repository_selection, permissions, events, suspended_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::timestamptz)
           ON CONFLICT (id) DO UPDATE SET
               account_login = EXCLUDED.account_login,
               account_id = EXCLUDED.account_id,
               account_type = EXCLUDED.account_type,
               target_type = coalesce(EXCLUDED.target_type, installations.target_type),
               repository_selection = coalesce(EXCLUDED.repository_selection,
                                               installations.repository_selection),
               permissions = CASE WHEN EXCLUDED.permissions = '{}'::jsonb
                                  THEN installations.permissions ELSE EXCLUDED.permissions END,
               events = CASE WHEN cardinality(EXCLUDED.events) = 0
                             THEN installations.events ELSE EXCLUDED.events END,
               deleted_at = NULL,
               updated_at = now()""",
        installation["id"],
        account.get("login") or "",
        account.get("id"),
        account.get("type"),
        installation.get("target_type"),
        installation.get("repository_selection"),
        orjson.dumps(installation.get("permissions") or {}).decode(),
        list(installation.get("events") or []),
        _timestamp(installation.get("suspended_at")),
    )


def _timestamp(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


async def mark_deleted(conn: asyncpg.Connection, installation_id: int) -> None:
    await conn.execute(
        "UPDATE installations SET deleted_at = now(), updated_at = now() WHERE id = $1",
        installation_id,
    )
    await conn.execute(
        """UPDATE repositories SET removed_at = now(), updated_at = now()
           WHERE installation_id = $1 AND removed_at IS NULL""",
        installation_id,
    )


async def set_suspended(conn: asyncpg.Connection, installation_id: int, suspended: bool) -> None:
    await conn.execute(
        """UPDATE installations
           SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END,
               updated_at = now()
           WHERE id = $1""",
        installation_id,
        suspended,
    )


async def add_repositories(
    conn: asyncpg.Connection, installation_id: int, repositories: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    repos = [r for r in repositories if r.get("id") and r.get("full_name")]
    if repos:
        await conn.execute(
            """INSERT INTO repositories (id, installation_id, full_name, private)
               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::boolean[])
               ON CONFLICT (id) DO UPDATE SET
                   installation_id = EXCLUDED.installation_id,
                   full_name = EXCLUDED.full_name,
                   private = EXCLUDED.private,
                   removed_at = NULL,
                   updated_at = now()""",
            [r["id"] for r in repos],
            [installation_id] * len(repos),
            [r["full_name"] for r in repos],
            [bool(r.get("private")) for r in repos],
        )
    return repos


async def remove_repositories(
    conn: asyncpg.Connection, installation_id: int, repository_ids: Iterable[int]
) -> None:
    await conn.execute(
        """UPDATE repositories SET removed_at = now(), updated_at = now()
           WHERE installation_id = $1 AND id = ANY($2::bigint[])""",
        installation_id,
        list(repository_ids),
    )


async def mark_label_created(conn: asyncpg.Connection | asyncpg.Pool, repository_id: int) -> None:
    await conn.execute(
        "UPDATE repositories SET label_created_at = now() WHERE id = $1", repository_id
    )
