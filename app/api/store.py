"""The API's tables: rate-limit windows, idempotent answers and generated
prompts; every query on them, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

Conn = asyncpg.Connection | asyncpg.Pool


async def hit(conn: Conn, bucket: str, window_seconds: float) -> tuple[int, float]:
    """Count one request in the bucket's current fixed window; the count so far
    and the seconds until the window ends. One statement: replicas share it."""
    row = await conn.fetchrow(
        """WITH w AS (
               SELECT to_timestamp(floor(extract(epoch FROM now()) / $2) * $2) AS start)
           INSERT INTO api_rate_limits AS r (bucket, window_start, hits)
           SELECT $1, w.start, 1 FROM w
           ON CONFLICT (bucket, window_start) DO UPDATE SET hits = r.hits + 1
           RETURNING hits,
                     extract(epoch FROM (window_start + make_interval(secs => $2) - now()))
                         AS remaining""",
        bucket,
        float(window_seconds),
    )
    return row["hits"], float(row["remaining"])


async def forget_windows(conn: Conn, before: datetime) -> int:
    result = await conn.execute("DELETE FROM api_rate_limits WHERE window_start < $1", before)
    return int(result.split()[-1])


@dataclass(frozen=True)
class Remembered:
    request_hash: str
    status: int | None  # None: the first request has no answer yet
    body: bytes | None


async def claim_idempotency(
    conn: Conn, key_name: str, key: str, request_hash: str
) -> Remembered | None:
    """Take the key for this request (None), or what an earlier request left."""
    inserted = await conn.fetchval(
        """INSERT INTO api_idempotency (key_name, idempotency_key, request_hash)
           VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true""",
        key_name,
        key,
        request_hash,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        """SELECT request_hash, status, body FROM api_idempotency
           WHERE key_name = $1 AND idempotency_key = $2""",
        key_name,
        key,
    )
    if row is None:  # released meanwhile: claim it again
        return await claim_idempotency(conn, key_name, key, request_hash)
    return Remembered(row["request_hash"], row["status"], row["body"])


async def remember_answer(conn: Conn, key_name: str, key: str, status: int, body: bytes) -> None:
    await conn.execute(
        """UPDATE api_idempotency SET status = $3, body = $4
           WHERE key_name = $1 AND idempotency_key = $2""",
        key_name,
        key,
        status,
        body,
    )


async def forget_answers(conn: Conn, before: datetime) -> int:
    """Idempotency keys are kept a day at least; older ones may be used afresh."""
    result = await conn.execute("DELETE FROM api_idempotency WHERE created_at < $1", before)
    return int(result.split()[-1])


async def release_idempotency(conn: Conn, key_name: str, key: str) -> None:
    """The request failed on our side: a repeat may try again."""
    await conn.execute(
        """DELETE FROM api_idempotency
           WHERE key_name = $1 AND idempotency_key = $2 AND status IS NULL""",
        key_name,
        key,
    )


@dataclass(frozen=True)
class StoredPrompt:
    id: int
    task_id: int
    prompt: str
    style: str
    context_used: dict[str, Any]
    created_by: str
    created_at: datetime


_PROMPT_COLUMNS = (
    "id, task_id, prompt, style, context_used::text AS context_used, created_by, created_at"
)


def _prompt(row: asyncpg.Record) -> StoredPrompt:
    data = dict(row)
    data["context_used"] = orjson.loads(data["context_used"])
    return StoredPrompt(**data)


async def save_prompt(
    conn: Conn, *, task_id: int, prompt: str, style: str, context_used: dict[str, Any], by: str
) -> StoredPrompt:
    row = await conn.fetchrow(
        f"""INSERT INTO api_prompts (task_id, prompt, style, context_used, created_by)
            VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING {_PROMPT_COLUMNS}""",  # noqa: S608
        task_id,
        prompt,
        style,
        orjson.dumps(context_used).decode(),
        by,
    )
    return _prompt(row)


async def get_prompt(conn: Conn, prompt_id: int, task_id: int) -> StoredPrompt | None:
    row = await conn.fetchrow(
        f"SELECT {_PROMPT_COLUMNS} FROM api_prompts WHERE id = $1 AND task_id = $2",  # noqa: S608
        prompt_id,
        task_id,
    )
    return _prompt(row) if row else None
