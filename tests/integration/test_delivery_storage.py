"""A compressed delivery stays in its row (migration 018): no TOAST chunks, the
statement that stores it writes one heap tuple, and it reads back byte-exact."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from app.deliveries import store as deliveries

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "benchmarks"
    / "reference"
    / "issues-labeled-with-installation.json"
)


async def _toast_bytes(pool) -> int:
    return await pool.fetchval(
        """SELECT pg_relation_size(reltoastrelid) FROM pg_class
           WHERE oid = 'webhook_deliveries'::regclass"""
    )


async def test_webhook_bodies_are_stored_in_the_row_and_read_back_exactly(pool):
    body = REFERENCE.read_bytes()
    batch = [
        deliveries.IncomingDelivery(str(uuid.uuid4()), "issues", "labeled", 1, body)
        for _ in range(200)
    ]
    new = await deliveries.insert_batch(pool, batch, max_attempts=8)
    assert new == {d.id for d in batch}
    assert await _toast_bytes(pool) == 0
    for delivery in batch[:5]:
        read = await deliveries.get(pool, delivery.id)
        assert read is not None and read.payload == body
    stored = await pool.fetchval("SELECT max(octet_length(payload)) FROM webhook_deliveries")
    assert stored < len(body) / 4


async def test_a_payload_too_big_for_a_row_still_goes_to_toast(pool):
    # Random base64 compresses by a quarter at most: still over a page, so out of line.
    body = b'{"blob": "' + base64.b64encode(os.urandom(30000)) + b'"}'
    delivery = deliveries.IncomingDelivery("big", "issues", None, None, body)
    await deliveries.insert_batch(pool, [delivery], max_attempts=8)
    assert await _toast_bytes(pool) > 0
    read = await deliveries.get(pool, "big")
    assert read is not None and read.payload == body


async def test_a_compressed_payload_of_a_few_kb_stays_in_its_row(pool):
    # 3-6 KB compressed: over PostgreSQL's default 2 KB TOAST threshold, under
    # the row target migration 018 sets.
    body = b'{"blob": "' + base64.b64encode(os.urandom(3000)) + b'"}'
    stored = deliveries.encode_payload(body)
    assert 3000 < len(stored) < 6000
    delivery = deliveries.IncomingDelivery("mid", "issues", None, None, body)
    await deliveries.insert_batch(pool, [delivery], max_attempts=8)
    assert await _toast_bytes(pool) == 0
    read = await deliveries.get(pool, "mid")
    assert read is not None and read.payload == body
