"""The `pull_requests` table: the pull requests the bot validates, linked to a
task when one of its agent runs opened them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.pull_requests.status import CiFixOutcome, PullRequestState
from app.text import linear_re


@dataclass(frozen=True)
class PullRequest:
    id: int
    installation_id: int
    repository: str
    number: int
    task_id: int | None
    head_sha: str
    head_ref: str | None
    state: PullRequestState
    ci_fix_attempts: int
    ci_fix_outcome: CiFixOutcome | None
    commented: tuple[str, ...]
    opened_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    repository_id: int | None = None  # GitHub's id: the name changes on a rename

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> PullRequest:
        data = dict(row)
        data["commented"] = tuple(data["commented"])
        data["state"] = PullRequestState(data["state"])
        if data["ci_fix_outcome"] is not None:
            data["ci_fix_outcome"] = CiFixOutcome(data["ci_fix_outcome"])
        return cls(**data)


_COLUMNS = """id, installation_id, repository, number, task_id, head_sha, head_ref, state,
    ci_fix_attempts, ci_fix_outcome, commented, opened_at, merged_at, closed_at, updated_at,
    repository_id"""

# At most 9 digits: no issue or PR has a longer number, int() refuses 4,300 digits and
# PostgreSQL's integer columns 10 (a body's `Fixes #99999999999` failed the PR's event).
_CLOSING = linear_re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d{1,9})\b", linear_re.IGNORECASE
)
_PULL_URL = linear_re.compile(r"/([^/\s]+/[^/\s]+)/pulls?/(\d{1,9})(?:[/?#]|$)")


def number_from_url(url: str, repository: str) -> int | None:
    """The PR number in an html or API URL of `repository`, else None."""
    match = _PULL_URL.search(url or "")
    if not match or match.group(1).lower() != repository.lower():
        return None
    return int(match.group(2))


def closing_issues(body: str | None) -> list[int]:
    """Issue numbers a PR body closes with GitHub's keywords (`Fixes #12`)."""
    return [int(n) for n in _CLOSING.findall(body or "")]


async def upsert(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    installation_id: int,
    repository: str,
    number: int,
    head_sha: str,
    head_ref: str | None,
    task_id: int | None,
    repository_id: int | None = None,
) -> PullRequest:
    """Record a PR (or its new head); a task link, once made, is kept. A simulated
    task is never linked, whoever asks: its run opened no PR, so this one is not its.
    The repository's id, when not given, is the task's or the one recorded for
    the name in `repositories`."""
    row = await conn.fetchrow(
        f"""INSERT INTO pull_requests
                (installation_id, repository, number, head_sha, head_ref, task_id, repository_id)
            VALUES ($1, $2, $3, $4, $5,
                (SELECT id FROM tasks WHERE id = $6 AND NOT simulated),
                coalesce(
                    $7,
                    (SELECT repository_id FROM tasks WHERE id = $6),
                    (SELECT id FROM repositories WHERE lower(full_name) = lower($2)
                     ORDER BY removed_at IS NOT NULL, updated_at DESC LIMIT 1)))
            ON CONFLICT (lower(repository), number) DO UPDATE SET
                head_sha = EXCLUDED.head_sha,
                head_ref = coalesce(EXCLUDED.head_ref, pull_requests.head_ref),
                task_id = coalesce(pull_requests.task_id, EXCLUDED.task_id),
                installation_id = EXCLUDED.installation_id,
                repository_id = coalesce(pull_requests.repository_id, EXCLUDED.repository_id),
                updated_at = now()
            RETURNING {_COLUMNS}""",  # noqa: S608
        installation_id,
        repository,
        number,
        head_sha,
        head_ref,
        task_id,
        repository_id,
    )
    return PullRequest.from_row(row)


async def get(conn: asyncpg.Connection | asyncpg.Pool, pr_id: int) -> PullRequest | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM pull_requests WHERE id = $1", pr_id)  # noqa: S608
    return PullRequest.from_row(row) if row else None


async def find(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, number: int
) -> PullRequest | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM pull_requests
            WHERE lower(repository) = lower($1) AND number = $2""",  # noqa: S608
        repository,
        number,
    )
    return PullRequest.from_row(row) if row else None


async def for_task(conn: asyncpg.Connection | asyncpg.Pool, task_id: int) -> list[PullRequest]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM pull_requests WHERE task_id = $1 ORDER BY id",  # noqa: S608
        task_id,
    )
    return [PullRequest.from_row(r) for r in rows]


async def with_head(
    conn: asyncpg.Connection | asyncpg.Pool, repository: str, head_sha: str
) -> list[PullRequest]:
    """Open PRs whose current head is this commit (CI events name commits, not PRs)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM pull_requests
            WHERE lower(repository) = lower($1) AND head_sha = $2 AND state = $3""",  # noqa: S608
        repository,
        head_sha,
        str(PullRequestState.OPEN),
    )
    return [PullRequest.from_row(r) for r in rows]


async def update(conn: asyncpg.Connection | asyncpg.Pool, pr_id: int, **fields: Any) -> None:
    sets, values = ["updated_at = now()"], [pr_id]
    for name, value in fields.items():
        values.append(value)
        sets.append(f"{name} = ${len(values)}")
    await conn.execute(
        f"UPDATE pull_requests SET {', '.join(sets)} WHERE id = $1",  # noqa: S608
        *values,
    )


async def add_commented(
    conn: asyncpg.Connection | asyncpg.Pool, pr_id: int, fingerprints: list[str]
) -> None:
    await conn.execute(
        """UPDATE pull_requests
           SET commented = ARRAY(SELECT DISTINCT unnest(commented || $2::text[]))
           WHERE id = $1""",
        pr_id,
        fingerprints,
    )


async def count_ci_fix(
    conn: asyncpg.Connection | asyncpg.Pool, pr_id: int, most: int
) -> int | None:
    """Take one CI-fix attempt if any is left; the new count, or None when none is."""
    return await conn.fetchval(
        """UPDATE pull_requests SET ci_fix_attempts = ci_fix_attempts + 1, updated_at = now()
           WHERE id = $1 AND ci_fix_attempts < $2
           RETURNING ci_fix_attempts""",
        pr_id,
        most,
    )


async def follow_rename(
    conn: asyncpg.Connection,
    repository_id: int,
    full_name: str,
    old_names: list[str],
    installation_id: int | None,
) -> int:
    """Give the repository's PR records its current name, as `tasks.follow_rename`
    does for tasks (another repository's records under the name are set apart
    first: a PR number is unique per name). Returns how many were renamed."""
    await conn.execute(
        """UPDATE pull_requests
           SET repository = repository || ' (repository ' || repository_id || ')',
               updated_at = now()
           WHERE lower(repository) = lower($2) AND repository_id <> $1""",
        repository_id,
        full_name,
    )
    result = await conn.execute(
        """UPDATE pull_requests SET repository = $2, repository_id = $1,
                  installation_id = coalesce($4, installation_id), updated_at = now()
           WHERE (repository_id = $1
                  OR (repository_id IS NULL AND lower(repository) = ANY($3::text[])))
             AND (repository <> $2 OR installation_id <> coalesce($4, installation_id)
                  OR repository_id IS NULL)""",
        repository_id,
        full_name,
        [name.lower() for name in old_names],
        installation_id,
    )
    return int(result.split()[-1])
