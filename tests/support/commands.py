"""Helpers for tests that talk to the bot in comments: deliver and wait until
handled, say a `/codegen` command, read the replies, reactions and the command
log, and set up a task whose PR is validated or whose CI fix is in flight."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.events import issue_comment_event
from tests.support.flow import (
    CODEGEN_PR,
    PR_NUMBER,
    QUICK,
    REPO,
    WRITER,
    labeled_event,
    task_status,
    wait_until,
)
from tests.support.validation import CI_FIX

CLEAN_FILES = [
    {
        "filename": "widgets/export.py",
        "status": "modified",
        "patch": "@@ -1,2 +1,3 @@\n import csv\n+ROWS = 10\n def export():",
    },
]


FOREVER = ["ACTIVE"] * 1000


async def deliver(bot, event: str, payload: dict[str, Any], guid: str | None = None) -> str:
    """Deliver and wait until the delivery was handled (or ignored); its GUID."""
    guid = guid or str(uuid.uuid4())
    status, _ = await bot.deliver(event, payload, guid)
    assert status in (200, 202)
    pool = bot.runtime.pool
    await wait_until(
        lambda: pool.fetchval(
            "SELECT status <> 'queued' FROM webhook_deliveries WHERE id = $1", guid
        )
    )
    assert await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", guid) in (
        "processed",
        "ignored",
    )
    return guid


async def say(bot, fake, body: str, *, user: str = WRITER, number: int = 7) -> dict[str, Any]:
    """`user` comments `body` on issue (or PR) `number`; the payload once handled."""
    payload = issue_comment_event(fake, "created", REPO, number, body, user=user)
    await deliver(bot, "issue_comment", payload)
    return payload


def replies(fake, number: int = 7) -> list[str]:
    """The bot's command replies on the issue or PR (not its tracking comment)."""
    return [
        c["body"]
        for c in fake.comments_on(REPO, number)
        if c["user"]["type"] == "Bot" and "<!-- codegen-bot:cmd:" in c["body"]
    ]


def reactions(fake, payload: dict[str, Any], kind: str = "issue_comment") -> list[str]:
    return [r["content"] for r in fake.reactions_on(kind, payload["comment"]["id"])]


async def logged(bot) -> list[dict[str, Any]]:
    rows = await bot.runtime.pool.fetch("SELECT * FROM commands ORDER BY id")
    return [dict(r) for r in rows]


def open_pull(fake, number: int = PR_NUMBER, *, body: str = "Fixes #7", **kw: Any):
    return fake.add_pull(
        REPO,
        number,
        title="Export CSV",
        body=body,
        user=kw.pop("user", "codegen-agent"),
        head_ref=kw.pop("head_ref", "codegen/export-csv"),
        files=CLEAN_FILES,
        **kw,
    )


def our_runs(fake, sha: str) -> list[dict[str, Any]]:
    return [r for r in fake.check_runs_for(REPO, sha) if r["name"] == "codegen/validation"]


async def validated(bot, sha: str, count: int = 1) -> bool:
    done = await bot.runtime.pool.fetchval(
        "SELECT count(*) FROM validations WHERE head_sha = $1 AND status = 'completed'", sha
    )
    return done >= count


async def task_with_validated_pr(bot, fake, codegen, example_payload) -> str:
    """Label #7; the agent run opens PR #8, which is validated once. Its head SHA."""
    fake.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(fake)["head"]["sha"]
    codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    await deliver(bot, "issues", labeled_event(fake, example_payload, WRITER))
    await wait_until(lambda: validated(bot, sha))
    await wait_until(lambda: task_status(bot, "passed"))
    await bot.wait_idle()
    assert len(our_runs(fake, sha)) == 1
    return sha


async def ci_fix_in_flight(bot, seeded, fake_codegen, example_payload) -> None:
    """The task's PR fails CI and the agent is still working on the automatic fix."""
    seeded.set_file(REPO, ".github/codegen.yml", CI_FIX)
    sha = open_pull(seeded)["head"]["sha"]
    seeded.add_check_run(
        REPO, name="tests", head_sha=sha, conclusion="failure", app_slug="github-actions"
    )
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    fake_codegen.script_resume(statuses=FOREVER)
    await deliver(bot, "issues", labeled_event(seeded, example_payload, WRITER))
    await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
