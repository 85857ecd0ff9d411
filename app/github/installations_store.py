"""The `installations` and `repositories` tables: what the App is installed on.

Deliveries can be handled out of order (several workers, retries), so every
write carries the `received_at` of its delivery and an older delivery never
overwrites what a newer one recorded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import orjson


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


async def upsert_installation(
    conn: asyncpg.Connection, installation: dict[str, Any], seen_at: datetime
) -> bool:
    """Record the installation as the delivery saw it; False when a newer
    delivery already did (the caller then changes nothing else)."""
    account = installation.get("account") or {}
    applied = await conn.fetchval(
        """INSERT INTO installations (id, account_login, account_id, account_type, target_type,
                                      repository_selection, permissions, events, suspended_at,
                                      synced_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::timestamptz, $10)
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
               suspended_at = EXCLUDED.suspended_at,
               deleted_at = NULL,
               synced_at = EXCLUDED.synced_at,
               updated_at = now()
           WHERE installations.synced_at IS NULL OR installations.synced_at <= EXCLUDED.synced_at
           RETURNING true""",
        installation["id"],
        account.get("login") or "",
        account.get("id"),
        account.get("type"),
        installation.get("target_type"),
        installation.get("repository_selection"),
        orjson.dumps(installation.get("permissions") or {}).decode(),
        list(installation.get("events") or []),
        _timestamp(installation.get("suspended_at")),
        seen_at,
    )
    return bool(applied)


async def mark_deleted(conn: asyncpg.Connection, installation_id: int, seen_at: datetime) -> None:
    await conn.execute(
        "UPDATE installations SET deleted_at = now(), updated_at = now() WHERE id = $1",
        installation_id,
    )
    await conn.execute(
        """UPDATE repositories SET removed_at = now(), synced_at = $2, updated_at = now()
           WHERE installation_id = $1 AND removed_at IS NULL""",
        installation_id,
        seen_at,
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
    conn: asyncpg.Connection,
    installation_id: int,
    repositories: Iterable[dict[str, Any]],
    seen_at: datetime,
) -> list[dict[str, Any]]:
    """Record repositories as present; returns those this delivery added
    (not those a newer delivery has since changed)."""
    repos = [r for r in repositories if r.get("id") and r.get("full_name")]
    if not repos:
        return []
    rows = await conn.fetch(
        """INSERT INTO repositories (id, installation_id, full_name, private, synced_at)
           SELECT r.*, $5::timestamptz
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::boolean[]) AS r
           ON CONFLICT (id) DO UPDATE SET
               installation_id = EXCLUDED.installation_id,
               full_name = EXCLUDED.full_name,
               private = EXCLUDED.private,
               removed_at = NULL,
               synced_at = EXCLUDED.synced_at,
               updated_at = now()
           WHERE repositories.synced_at IS NULL OR repositories.synced_at <= EXCLUDED.synced_at
           RETURNING id""",
        [r["id"] for r in repos],
        [installation_id] * len(repos),
        [r["full_name"] for r in repos],
        [bool(r.get("private")) for r in repos],
        seen_at,
    )
    applied = {r["id"] for r in rows}
    return [r for r in repos if r["id"] in applied]


async def remove_repositories(
    conn: asyncpg.Connection,
    installation_id: int,
    repository_ids: Iterable[int],
    seen_at: datetime,
) -> None:
    await conn.execute(
        """UPDATE repositories SET removed_at = now(), synced_at = $3, updated_at = now()
           WHERE installation_id = $1 AND id = ANY($2::bigint[])
             AND (synced_at IS NULL OR synced_at <= $3)""",
        installation_id,
        list(repository_ids),
        seen_at,
    )


async def rename_repository(
    conn: asyncpg.Connection,
    repository_id: int,
    full_name: str,
    installation_id: int | None,
    seen_at: datetime,
) -> tuple[str, str | None, bool]:
    """Record a repository's new name (and installation, after a transfer) as its
    delivery saw it. Returns the newest name known for it (a newer delivery's,
    when one was applied already), the name recorded before this one, and
    whether this delivery was the newest."""
    row = await conn.fetchrow(
        "SELECT full_name, synced_at FROM repositories WHERE id = $1 FOR UPDATE", repository_id
    )
    if row is not None and row["synced_at"] is not None and row["synced_at"] > seen_at:
        return row["full_name"], row["full_name"], False
    # A repository we never heard of is recorded when its installation is known.
    await conn.execute(
        """INSERT INTO repositories (id, installation_id, full_name, synced_at)
           SELECT $1, $3, $2, $4 WHERE EXISTS (SELECT 1 FROM installations WHERE id = $3)
           ON CONFLICT (id) DO UPDATE SET
               full_name = EXCLUDED.full_name,
               installation_id = EXCLUDED.installation_id,
               synced_at = EXCLUDED.synced_at,
               updated_at = now()""",
        repository_id,
        full_name,
        installation_id,
        seen_at,
    )
    await conn.execute(
        """UPDATE repositories SET full_name = $2, synced_at = $3, updated_at = now()
           WHERE id = $1 AND full_name <> $2""",
        repository_id,
        full_name,
        seen_at,
    )
    return full_name, row["full_name"] if row is not None else None, True


async def mark_label_created(conn: asyncpg.Connection | asyncpg.Pool, repository_id: int) -> None:
    await conn.execute(
        "UPDATE repositories SET label_created_at = now() WHERE id = $1", repository_id
    )


async def counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """Installations and repositories the App is on now (for the status page)."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM installations WHERE deleted_at IS NULL) AS installations,
                  (SELECT count(*) FROM repositories WHERE removed_at IS NULL) AS repositories"""
    )
    return dict(row)


async def installed_on(
    conn: asyncpg.Connection | asyncpg.Pool,
    installation_id: int,
    *,
    limit: int = 100,
    private_names_for: float = 900.0,
) -> tuple[str | None, list[str], int]:
    """The account an installation belongs to, the repositories it reaches now
    (as the `installation` webhook told us) and how many private ones are left
    unnamed: the post-install page answers anyone who names an installation,
    so a private repository is named only `private_names_for` seconds after
    the install, when GitHub has just sent its installer there."""
    account = await conn.fetchval(
        "SELECT account_login FROM installations WHERE id = $1 AND deleted_at IS NULL",
        installation_id,
    )
    rows = await conn.fetch(
        """SELECT r.full_name,
                  r.private AND i.created_at <= now() - make_interval(secs => $3) AS hidden
           FROM repositories r JOIN installations i ON i.id = r.installation_id
           WHERE r.installation_id = $1 AND r.removed_at IS NULL
           ORDER BY lower(r.full_name) LIMIT $2""",
        installation_id,
        limit,
        private_names_for,
    )
    names = [r["full_name"] for r in rows if not r["hidden"]]
    return account, names, len(rows) - len(names)
