"""`push` deliveries at the intake: the App subscribes to `push` only to learn
that a repository's default branch moved (app/repo_settings/changes.py). Every
other push (the agent's own commits to its PR branches above all, tags, any
feature branch) changes nothing the bot reads, and a push body can be 25 MB:
it is answered at once and neither stored nor queued. Real server, real
database."""

from __future__ import annotations

import json
import uuid

from tests.support.bot import delivery_headers


async def _counts(pool) -> tuple[int, int]:
    deliveries = await pool.fetchval("SELECT count(*) FROM webhook_deliveries")
    jobs = await pool.fetchval("SELECT count(*) FROM jobs")
    return deliveries, jobs


async def _post(bot, payload: dict) -> tuple[int, dict]:
    body = json.dumps(payload).encode()
    guid = str(uuid.uuid4())
    headers = delivery_headers("push", body, guid)
    async with bot.session.post(bot.webhook_url, data=body, headers=headers) as response:
        return response.status, await response.json()


def _push(example_payload, ref: str) -> dict:
    payload = example_payload("push")
    payload["ref"] = ref
    payload["repository"]["default_branch"] = "main"
    payload["installation"] = {"id": 5150}
    # A big push: many commits with long messages.
    commit = dict(payload["head_commit"] or {}, message="x" * 20_000)
    payload["commits"] = [commit] * 20
    return payload


async def test_a_push_elsewhere_than_the_default_branch_is_not_stored(intake_only, example_payload):
    pool = intake_only.runtime.pool
    for ref in ("refs/heads/codegen-bot/issue-7", "refs/tags/v1.0", "refs/heads/mainline"):
        status, answer = await _post(intake_only, _push(example_payload, ref))
        assert status == 200, ref
        assert answer["status"] == "ignored"
        assert await _counts(pool) == (0, 0)

    # To the default branch: stored and queued, so settings are read afresh.
    status, answer = await _post(intake_only, _push(example_payload, "refs/heads/main"))
    assert status == 202
    assert answer["status"] == "queued"
    assert await _counts(pool) == (1, 1)
