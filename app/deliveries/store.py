"""The `webhook_deliveries` table: every query on it, in one place.

Deliveries are written in batches: concurrent requests share one statement
(and so one commit), each delivery with its job, which is what lets the intake
keep up with GitHub's bursts without ever acknowledging an unstored delivery."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import zstandard

from app.db import create_pool

log = logging.getLogger(__name__)

DELIVERY_JOB_KIND = "delivery"

# One statement: insert the deliveries that are new, a job for each, and
# report which were new. Its single implicit transaction is the "store and
# enqueue together" guarantee.
_INSERT_BATCH = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
        AS t(id, event, action, installation_id, payload)
), inserted AS (
    INSERT INTO webhook_deliveries (id, event, action, installation_id, payload)
    SELECT id, event, action, installation_id, payload FROM input
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), queued AS (
    INSERT INTO jobs (kind, payload, max_attempts)
    SELECT 'delivery', jsonb_build_object('delivery_id', id), $6 FROM inserted
)
SELECT id FROM inserted
"""


# A payload is stored as a zstd frame when that is smaller: 12 KB of webhook
# JSON becomes about 1.9 KB, which fits in the row itself (migration 018), so
# PostgreSQL writes one heap tuple and 2 KB of WAL instead of seven TOAST
# chunks, their index entries and 12 KB of WAL (benchmarks/README.md). The
# frame is self-describing: it starts with zstd's magic number, which no JSON
# object can (the intake stores only bodies that parse as one), so payloads
# stored before this, raw, read back unchanged. Level 1: higher levels cost
# more CPU than the few bytes they save are worth on the intake's path.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESS_ABOVE = 512  # bytes; a smaller body would not shrink past the frame's overhead
_ZSTD_LEVEL = 1
# zstd contexts are not thread-safe and cost about 10 us to make: one per thread.
_contexts = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    try:
        return _contexts.compressor
    except AttributeError:
        _contexts.compressor = zstandard.ZstdCompressor(
            level=_ZSTD_LEVEL, write_checksum=True, write_content_size=True
        )
        return _contexts.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    try:
        return _contexts.decompressor
    except AttributeError:
        _contexts.decompressor = zstandard.ZstdDecompressor()
        return _contexts.decompressor


def encode_payload(body: bytes) -> bytes:
    """What is stored for a body: a zstd frame when smaller, else the body."""
    if len(body) <= COMPRESS_ABOVE:
        return body
    frame = _compressor().compress(body)
    return frame if len(frame) < len(body) else body


def encode_payloads(bodies: list[bytes]) -> list[bytes]:
    """`encode_payload` for a batch, in order. Inline on the loop: compressing
    in a thread was measured slower (the hand-offs cost more than the 17 us)."""
    return [encode_payload(body) for body in bodies]


def decode_payload(stored: bytes) -> bytes:
    """The body exactly as received, from what `encode_payload` stored."""
    if stored[:4] == ZSTD_MAGIC:
        return _decompressor().decompress(stored)
    return stored


@dataclass(frozen=True)
class IncomingDelivery:
    id: str
    event: str
    action: str | None
    installation_id: int | None
    payload: bytes


@dataclass(frozen=True)
class StoredDelivery:
    id: str
    event: str
    action: str | None
    installation_id: int | None
    payload: bytes
    received_at: datetime
    status: str


async def insert_batch(
    conn: asyncpg.Connection | asyncpg.Pool,
    batch: list[IncomingDelivery],
    max_attempts: int,
    stored_payloads: list[bytes] | None = None,
) -> set[str]:
    """Store deliveries with their jobs; returns the ids that were new.
    `stored_payloads`: the batch's payloads already encoded (`encode_payloads`)."""
    if stored_payloads is None:
        stored_payloads = encode_payloads([d.payload for d in batch])
    rows = await conn.fetch(
        _INSERT_BATCH,
        [d.id for d in batch],
        [d.event for d in batch],
        [d.action for d in batch],
        [d.installation_id for d in batch],
        stored_payloads,
        max_attempts,
    )
    return {r["id"] for r in rows}


async def stored_ids(conn: asyncpg.Connection | asyncpg.Pool, guids: list[str]) -> set[str]:
    """Which of these delivery GUIDs are stored (the lost-delivery sweep asks)."""
    rows = await conn.fetch("SELECT id FROM webhook_deliveries WHERE id = ANY($1::text[])", guids)
    return {r["id"] for r in rows}


async def get(conn: asyncpg.Connection | asyncpg.Pool, delivery_id: str) -> StoredDelivery | None:
    row = await conn.fetchrow(
        """SELECT id, event, action, installation_id, payload, received_at, status
           FROM webhook_deliveries WHERE id = $1""",
        delivery_id,
    )
    if row is None:
        return None
    return StoredDelivery(**{**dict(row), "payload": decode_payload(row["payload"])})


async def set_status(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_id: str, status: str, error: str | None = None
) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries
           SET status = $2, error = $3,
               processed_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END
           WHERE id = $1""",
        delivery_id,
        status,
        error,
    )


# The status page's figure: exact up to EXACT_COUNT_LIMIT, past that the
# planner's own estimate (the statistics in pg_class scaled to the table's
# current size, as the planner scales them), so the page costs the same at 10
# million deliveries as at 10 (a full count took seconds; benchmarks/README.md).
EXACT_COUNT_LIMIT = 10_000
COUNT = """
SELECT (SELECT count(*) FROM (SELECT FROM webhook_deliveries LIMIT $1) AS capped) AS counted,
       (SELECT (c.reltuples / c.relpages
                * (pg_relation_size(c.oid) / current_setting('block_size')::int))::bigint
          FROM pg_class c
         WHERE c.oid = 'webhook_deliveries'::regclass AND c.relpages > 0 AND c.reltuples >= 0)
           AS estimate
"""


def describe_count(counted: int, limit: int, estimate: int | None) -> str:
    """`1234` when counted, `about 1,230,000` (three figures) when estimated, and
    `over 10,000` when the table has never been analysed."""
    if counted < limit:
        return str(counted)
    if estimate is None or estimate < limit:
        return f"over {limit:,}"
    return f"about {round(estimate, 3 - len(str(estimate))):,}"


async def count(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    """How many deliveries are stored, as the status page shows it."""
    row = await conn.fetchrow(COUNT, EXACT_COUNT_LIMIT)
    return describe_count(row["counted"], EXACT_COUNT_LIMIT, row["estimate"])


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


class BatchWriter:
    """Coalesces concurrent deliveries into shared insert statements.

    A delivery waits only for the statement it joins: under light load each
    one is written alone; under load, those that arrive while `max_inflight`
    statements are running are gathered into the next one."""

    def __init__(
        self,
        dsn: str,
        *,
        job_max_attempts: int = 8,
        max_batch: int = 500,
        max_inflight: int = 2,
    ) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.job_max_attempts = job_max_attempts
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._pending: list[tuple[IncomingDelivery, asyncio.Future[bool]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Connections of its own, one per statement in flight. They run only
        `insert_batch`, which leaves no session state, so handing one back
        skips asyncpg's reset round trip."""
        self.pool = await create_pool(
            self.dsn, min_size=1, max_size=self.max_inflight, reset=_no_reset
        )

    async def close(self) -> None:
        await self.drain()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def submit(self, delivery: IncomingDelivery) -> bool:
        """Store one delivery; True when new, False when its id was already stored."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, future))
        if self._inflight < self.max_inflight:
            self._start_flush()
        return await future

    def _start_flush(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._inflight += 1
        task = asyncio.create_task(self._flush(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[IncomingDelivery, asyncio.Future[bool]]]) -> None:
        try:
            unique: dict[str, IncomingDelivery] = {}
            for delivery, _ in batch:
                unique.setdefault(delivery.id, delivery)
            try:
                if self.pool is None:
                    raise RuntimeError("the delivery writer is not open")
                new_ids = await insert_batch(
                    self.pool, list(unique.values()), self.job_max_attempts
                )
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for delivery, future in batch:
                is_new = delivery.id in new_ids
                new_ids.discard(delivery.id)  # a second copy in this batch is a duplicate
                if not future.done():
                    future.set_result(is_new)
        finally:
            self._inflight -= 1
            if self._pending and self._inflight < self.max_inflight:
                self._start_flush()

    async def drain(self) -> None:
        """Wait for every delivery already submitted to be written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def replay(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_id: str, max_attempts: int
) -> int | None:
    """Queue a stored delivery again (its handlers run on the stored payload);
    returns the new job's id, None when no delivery has that id or one of its
    jobs is still queued or running (see `unfinished_job`). Status and job
    change in one statement, so the job never finds the old outcome and skips."""
    return await conn.fetchval(
        """WITH delivery AS (
               UPDATE webhook_deliveries SET status = 'queued', error = NULL, processed_at = NULL
               WHERE id = $1 AND NOT EXISTS (
                   SELECT 1 FROM jobs WHERE kind = $3 AND payload->>'delivery_id' = $1
                                      AND status IN ('queued', 'running'))
               RETURNING id)
           INSERT INTO jobs (kind, payload, max_attempts)
           SELECT $3, jsonb_build_object('delivery_id', id), $2 FROM delivery
           RETURNING id""",
        delivery_id,
        max_attempts,
        DELIVERY_JOB_KIND,
    )


async def unfinished_job(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_id: str
) -> tuple[int, str] | None:
    """(id, status) of a delivery's job that is still queued or running: a
    replay then would run its handlers twice at once, or find the first job's
    outcome and do nothing."""
    row = await conn.fetchrow(
        """SELECT id, status FROM jobs
           WHERE kind = $2 AND payload->>'delivery_id' = $1 AND status IN ('queued', 'running')
           ORDER BY id LIMIT 1""",
        delivery_id,
        DELIVERY_JOB_KIND,
    )
    return (row["id"], row["status"]) if row is not None else None


# Retention (app/retention): one batch of deliveries received before the cutoff
# that are finished with — not `queued`, and no job of theirs queued or running
# (a replay sets `queued` in the statement that adds its job, so the re-check of
# a locked row sees it). The unfinished jobs are read through their partial
# indexes (jobs_ready, jobs_leased), one status each, never the finished ones: a
# status list matched neither and read the whole jobs table every batch. No
# ORDER BY, no index on received_at: old rows come first in physical (arrival)
# order, and the scan stops once it has the batch (migration 008).
_DELETE_OLD = """
WITH busy AS MATERIALIZED (
    SELECT payload->>'delivery_id' AS id FROM jobs WHERE status = 'queued' AND kind = $3
    UNION ALL
    SELECT payload->>'delivery_id' FROM jobs WHERE status = 'running' AND kind = $3
)
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.received_at < $1 AND d.status <> 'queued'
      AND NOT EXISTS (SELECT 1 FROM busy WHERE busy.id = d.id)
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED)
"""


async def delete_old_batch(
    conn: asyncpg.Connection | asyncpg.Pool, cutoff: datetime, limit: int
) -> int:
    """Delete at most `limit` finished deliveries received before `cutoff`; returns
    how many (fewer than `limit`: nothing older is left to delete now)."""
    result = await conn.execute(_DELETE_OLD, cutoff, limit, DELIVERY_JOB_KIND)
    return int(result.split()[-1])
