"""The webhook intake against a real server and a real database."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml
import zstandard

from app.deliveries import store as deliveries
from app.repo_settings.changes import pushed_to_default_branch
from app.web import intake
from app.web.intake import SignatureError, verify_signature
from tests.support.bot import WEBHOOK_SECRET, delivery_headers, running_bot, sign


def test_github_signature_test_vector():
    # From GitHub's "Validating webhook deliveries" documentation.
    secret = "It's a Secret to Everybody"
    body = b"Hello, World!"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_signature(body, good, secret)
    with pytest.raises(SignatureError):
        verify_signature(body, good[:-1] + "8", secret)
    with pytest.raises(SignatureError):
        verify_signature(b"Hello, World?", good, secret)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(body, None, secret)
    sha1 = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="sha256="):
        verify_signature(body, sha1, secret)


async def _counts(pool) -> tuple[int, int]:
    deliveries = await pool.fetchval("SELECT count(*) FROM webhook_deliveries")
    jobs = await pool.fetchval("SELECT count(*) FROM jobs")
    return deliveries, jobs


async def _post(bot, body: bytes, headers: dict[str, str]):
    async with bot.session.post(bot.webhook_url, data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_signed_delivery_is_stored_with_its_job(intake_only, example_payload):
    payload = example_payload("issues", "labeled")
    payload["installation"] = {
        "id": 5150,
        "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNTE1MA==",
    }
    body = json.dumps(payload, indent=1).encode()
    guid = str(uuid.uuid4())
    status, answer = await _post(intake_only, body, delivery_headers("issues", body, guid))
    assert status == 202
    assert answer == {"delivery": guid, "status": "queued"}
    row = await intake_only.runtime.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["id"] == guid
    assert row["event"] == "issues"
    assert row["action"] == "labeled"
    assert row["installation_id"] == payload["installation"]["id"]
    stored = bytes(row["payload"])
    assert stored.startswith(deliveries.ZSTD_MAGIC)  # compressed: about 6x smaller
    assert len(stored) < len(body) / 4
    assert deliveries.decode_payload(stored) == body  # exactly as received, not re-encoded
    read = await deliveries.get(intake_only.runtime.pool, guid)  # what the worker reads
    assert read is not None and read.payload == body
    assert row["status"] == "queued"
    job = await intake_only.runtime.pool.fetchrow("SELECT * FROM jobs")
    assert job["kind"] == "delivery"
    assert json.loads(job["payload"]) == {"delivery_id": guid}
    assert job["status"] == "queued"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: h.update({"X-Hub-Signature-256": "sha256=" + "0" * 64}), "does not match"),
        (lambda h: h.pop("X-Hub-Signature-256"), "missing X-Hub-Signature-256"),
        (
            lambda h: (
                h.update(
                    {
                        "X-Hub-Signature": "sha1="
                        + hmac.new(
                            WEBHOOK_SECRET.encode(), b'{"action":"opened"}', hashlib.sha1
                        ).hexdigest()
                    }
                )
                or h.pop("X-Hub-Signature-256")
            ),
            "only a sha1",
        ),
        (
            lambda h: h.update({"X-Hub-Signature-256": sign(b'{"action":"opened"}', "other")}),
            "does not match",
        ),
    ],
    ids=["wrong", "missing", "sha1-only", "other-secret"],
)
async def test_bad_signatures_are_refused_and_nothing_stored(intake_only, mutate, reason):
    body = b'{"action":"opened"}'
    headers = delivery_headers("issues", body)
    mutate(headers)
    status, answer = await _post(intake_only, body, headers)
    assert status == 401
    assert reason in answer["error"]
    assert await _counts(intake_only.runtime.pool) == (0, 0)


@pytest.mark.parametrize(
    ("body", "drop", "reason"),
    [
        (b"not json at all", None, "not JSON"),
        (b"[1, 2, 3]", None, "JSON object"),
        (b'{"action": "opened"}', "X-GitHub-Event", "X-GitHub-Event"),
        (b'{"action": "opened"}', "X-GitHub-Delivery", "X-GitHub-Delivery"),
    ],
)
async def test_malformed_deliveries_get_400(intake_only, body, drop, reason):
    headers = delivery_headers("issues", body)
    if drop:
        headers.pop(drop)
    status, answer = await _post(intake_only, body, headers)
    assert status == 400
    assert reason in answer["error"]
    assert await _counts(intake_only.runtime.pool) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        deliveries.ZSTD_MAGIC + b"not a frame",
        zstandard.ZstdCompressor().compress(b'{"action": "opened", "pad": "' + b"x" * 4000 + b'"}'),
        b"\xef\xbb\xbf" + b'{"action": "opened"}',  # a UTF-8 byte-order mark
        b'{"action": "opened", "text": "\xff\xfe"}',  # not UTF-8
    ],
    ids=["zstd-magic", "zstd-frame-of-json", "bom", "not-utf8"],
)
async def test_compressed_or_binary_bodies_get_400(intake_only, body):
    """The intake stores only bodies that are JSON objects as sent; a body that
    looks like what it stores compressed is no exception."""
    status, answer = await _post(intake_only, body, delivery_headers("issues", body))
    assert status == 400
    assert "not JSON" in answer["error"]
    assert await _counts(intake_only.runtime.pool) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [
        b'{"action":"opened"}',  # small: stored as sent
        b' \n\t{"action": "opened", "pad": "' + b"ab" * 6000 + b'"}\n',  # leading blanks
        b'{"action": "opened", "magic": "(\xc2\xb5/\xc3\xbd", "n": [' + b"1," * 3000 + b"1]}",
    ],
    ids=["small", "leading-whitespace", "magic-lookalike-inside"],
)
async def test_stored_payload_reads_back_byte_exact(intake_only, body):
    guid = str(uuid.uuid4())
    status, _ = await _post(intake_only, body, delivery_headers("issues", body, guid))
    assert status == 202
    stored = await intake_only.runtime.pool.fetchval(
        "SELECT payload FROM webhook_deliveries WHERE id = $1", guid
    )
    assert len(stored) <= len(body)
    read = await deliveries.get(intake_only.runtime.pool, guid)
    assert read is not None and read.payload == body


async def test_payload_stored_before_compression_reads_back_unchanged(intake_only):
    body = b'{"action": "opened", "pad": "' + b"x" * 20000 + b'"}'
    await intake_only.runtime.pool.execute(
        "INSERT INTO webhook_deliveries (id, event, payload) VALUES ('old', 'issues', $1)", body
    )
    read = await deliveries.get(intake_only.runtime.pool, "old")
    assert read is not None and read.payload == body


async def test_body_over_25_mb_is_refused(intake_only):
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    async with aiohttp.ClientSession() as session:  # its own, closed right after
        async with session.post(
            intake_only.webhook_url, data=body, headers=delivery_headers("issues", body)
        ) as response:
            status, answer = response.status, await response.json()
    assert status == 413
    assert "25 MB" in answer["error"]
    assert await _counts(intake_only.runtime.pool) == (0, 0)


async def test_ping_is_answered_and_not_queued(intake_only, example_payload):
    status, answer = await intake_only.deliver("ping", example_payload("ping"))
    assert status == 200
    assert answer["ok"] is True
    assert await _counts(intake_only.runtime.pool) == (0, 0)


async def test_same_guid_twice_makes_one_job(intake_only, example_payload):
    payload = example_payload("issues", "opened")
    guid = str(uuid.uuid4())
    first = await intake_only.deliver("issues", payload, guid)
    second = await intake_only.deliver("issues", payload, guid)
    assert first == (202, {"delivery": guid, "status": "queued"})
    assert second == (200, {"delivery": guid, "status": "duplicate"})
    assert await _counts(intake_only.runtime.pool) == (1, 1)


async def test_same_guid_concurrently_makes_one_job(intake_only, example_payload):
    payload = example_payload("issues", "opened")
    guid = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(intake_only.deliver("issues", payload, guid) for _ in range(20))
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [202]
    assert await _counts(intake_only.runtime.pool) == (1, 1)


async def test_unconfigured_secret_refuses_every_delivery(settings):
    unconfigured = dataclasses.replace(settings, github_webhook_secret=None)
    async with running_bot(unconfigured, worker=False) as bot:
        status, answer = await bot.deliver("issues", {"action": "opened"})
        assert status == 503
        assert "GITHUB_WEBHOOK_SECRET" in answer["error"]
        assert await _counts(bot.runtime.pool) == (0, 0)


async def test_every_octokit_example_is_accepted_and_stored_once(intake_only, webhook_examples):
    posted: dict[str, dict] = {}
    total = 0
    for group in webhook_examples:
        for example in group["examples"]:
            total += 1
            guid = str(uuid.uuid4())
            status, _ = await intake_only.deliver(group["name"], example, guid)
            assert 200 <= status < 300, (group["name"], example.get("action"), status)
            # A ping is answered; a push elsewhere than the default branch is
            # dropped (tests/e2e/test_push_intake.py).
            elsewhere = group["name"] == "push" and not pushed_to_default_branch(example)
            if group["name"] != "ping" and not elsewhere:
                posted[guid] = example
    assert total == 329
    assert len({g["name"] for g in webhook_examples}) == 58
    pool = intake_only.runtime.pool
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM webhook_deliveries")}
    app_deliveries = {g: e for g, e in posted.items() if "installation" in e}
    assert app_deliveries, "the corpus holds App deliveries"
    for guid, example in app_deliveries.items():
        assert guid in rows
        assert rows[guid]["installation_id"] == example["installation"]["id"]
    assert len(rows) == len(posted)
    job_count = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'delivery'")
    assert job_count == len(posted)


async def test_2000_concurrent_deliveries_are_all_stored(intake_only, example_payload):
    body = json.dumps(example_payload("issues", "labeled")).encode()
    guids = [str(uuid.uuid4()) for _ in range(2000)]
    semaphore = asyncio.Semaphore(200)

    async def post(guid: str) -> int:
        async with semaphore:
            status, _ = await _post(intake_only, body, delivery_headers("issues", body, guid))
            return status

    statuses = await asyncio.gather(*(post(g) for g in guids))
    assert statuses.count(202) == 2000
    pool = intake_only.runtime.pool
    stored = {r["id"] for r in await pool.fetch("SELECT id FROM webhook_deliveries")}
    assert stored == set(guids)
    jobs = await pool.fetch("SELECT payload::json->>'delivery_id' AS d FROM jobs")
    assert sorted(j["d"] for j in jobs) == sorted(guids)


async def _delivery_series(bot) -> set[str]:
    async with bot.session.get(f"{bot.url}/metrics") as response:
        text = await response.text()
    return {
        line.rsplit(" ", 1)[0]
        for line in text.splitlines()
        if line.startswith("codegen_bot_webhook_deliveries_total{")
    }


async def test_unsigned_event_names_mint_no_metric_series(intake_only):
    before = await _delivery_series(intake_only)
    body = b'{"action": "opened"}'

    async def post(i: int) -> int:
        headers = delivery_headers(f"made-up-event-{i}", body)
        headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
        status, _ = await _post(intake_only, body, headers)
        return status

    statuses = await asyncio.gather(*(post(i) for i in range(300)))
    assert set(statuses) == {401}
    new = await _delivery_series(intake_only) - before
    assert len(new) <= 1, sorted(new)[:5]
    assert not any("made-up-event" in series for series in new)


async def test_signed_unknown_events_share_one_label(intake_only, example_payload):
    before = await _delivery_series(intake_only)
    for i in range(50):
        status, _ = await intake_only.deliver(f"custom_event_{i}", {"action": f"act{i}"})
        assert status == 202
    status, _ = await intake_only.deliver("issues", example_payload("issues", "labeled"))
    assert status == 202
    after = await _delivery_series(intake_only)
    assert not any("custom_event" in s or 'action="act' in s for s in after), sorted(after)
    assert {s.split('event="', 1)[1].split('"', 1)[0] for s in after - before} <= {
        "other",
        "issues",
    }
    prefix = "codegen_bot_webhook_deliveries_total"
    assert f'{prefix}{{action="-",event="other",outcome="queued"}}' in after
    assert f'{prefix}{{action="labeled",event="issues",outcome="queued"}}' in after


def test_known_events_cover_the_manifest_subscriptions():
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "app.yml").read_text())
    assert set(manifest["default_events"]) <= intake.KNOWN_EVENTS
    assert {"ping", "installation", "installation_repositories"} <= intake.KNOWN_EVENTS
    assert intake.event_label("pull_request", verified=False) == intake.UNVERIFIED
    assert intake.event_label("x" * 1000, verified=True) == "other"
    assert intake.action_label("issues", "a" * 1000) == "-"
