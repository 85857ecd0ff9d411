"""How a delivery's body is stored: zstd when that is smaller, read back byte-exact."""

from __future__ import annotations

import os
from pathlib import Path

from app.deliveries.store import (
    COMPRESS_ABOVE,
    ZSTD_MAGIC,
    decode_payload,
    encode_payload,
    encode_payloads,
)

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "benchmarks"
    / "reference"
    / "issues-labeled-with-installation.json"
)


def test_a_webhook_body_is_stored_small_enough_to_stay_in_its_row():
    body = REFERENCE.read_bytes()
    stored = encode_payload(body)
    assert stored.startswith(ZSTD_MAGIC)
    # Under PostgreSQL's 2 KB TOAST threshold: one heap tuple, no TOAST chunks.
    assert len(stored) < 2000 < len(body)
    assert decode_payload(stored) == body


def test_small_bodies_are_stored_as_sent():
    body = b'{"zen": "Keep it logically awesome."}'
    assert len(body) <= COMPRESS_ABOVE
    assert encode_payload(body) is body
    assert decode_payload(body) is body


def test_a_body_compression_would_grow_is_stored_as_sent():
    body = os.urandom(4096)
    assert encode_payload(body) is body


def test_batches_round_trip_in_order():
    bodies = [b'{"n": %d, "pad": "%s"}' % (i, b"y" * (i * 300)) for i in range(10)]
    assert [decode_payload(s) for s in encode_payloads(bodies)] == bodies
