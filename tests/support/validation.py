"""Pull-request validation helpers shared by the flow tests: a PR the agent opened,
CI runs of another App, the bot's own check runs, and the rows the bot stores."""

from __future__ import annotations

from tests.support.events import check_run_event
from tests.support.flow import CODEGEN_PR, PR_NUMBER, QUICK, REPO, WRITER, labeled_event

# settings.py gets two added lines; the key block starts on new-file line 12.
KEY_PATCH = (
    "@@ -10,2 +10,4 @@\n"
    " import os\n"
    '+API_URL = "https://api.example.com"\n'
    '+KEY = """-----BEGIN RSA PRIVATE KEY-----\n'
    " DEBUG = False"
)


CLEAN_FILES = [
    {
        "filename": "widgets/export.py",
        "status": "modified",
        "patch": "@@ -1,2 +1,3 @@\n import csv\n+ROWS = 10\n def export():",
    },
    {
        "filename": "tests/test_export.py",
        "status": "modified",
        "patch": "@@ -1,1 +1,2 @@\n import widgets\n+assert widgets",
    },
]


def open_pull(fake, files, *, sha=None, body="Fixes #7"):
    return fake.add_pull(
        REPO,
        PR_NUMBER,
        title="Export CSV",
        body=body,
        user="codegen-agent",
        head_ref="codegen/export-csv",
        head_sha=sha,
        files=files,
    )


def ci_run(fake, sha, name="tests", conclusion="success", **output):
    return fake.add_check_run(
        REPO,
        name=name,
        head_sha=sha,
        conclusion=conclusion,
        app_slug="github-actions",
        output=output or None,
    )


def our_runs(fake, sha=None):
    return [r for r in fake.check_runs_for(REPO, sha) if r["name"] == "codegen/validation"]


async def validation_row(bot, sha, status="completed"):
    row = await bot.runtime.pool.fetchrow(
        "SELECT * FROM validations WHERE head_sha = $1 ORDER BY id DESC LIMIT 1", sha
    )
    return dict(row) if row and row["status"] == status else None


async def task_row(bot):
    row = await bot.runtime.pool.fetchrow("SELECT * FROM tasks ORDER BY id DESC LIMIT 1")
    return dict(row) if row else None


async def start_task_with_pr(bot, fake, codegen, example_payload):
    """Label the issue; the agent run completes with the PR the fake holds."""
    codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    status, _ = await bot.deliver("issues", labeled_event(fake, example_payload, WRITER))
    assert status == 202


async def click(bot, fake, check_run_id, sender, identifier):
    """A person clicks one of the check run's buttons."""
    event = check_run_event(
        fake,
        "requested_action",
        REPO,
        check_run_id,
        sender=sender,
        requested_action_identifier=identifier,
    )
    assert (await bot.deliver("check_run", event))[0] == 202


CI_FIX = "validation:\n  ci_start_seconds: 0\nci_fix:\n  max_attempts: 2\n  delay_seconds: 0\n"


async def task_in(bot, status):
    row = await task_row(bot)
    return row if row and row["status"] == status else None


AUTO_MERGE = QUICK + "auto_merge: true\n"


async def note_containing(bot, text):
    row = await task_row(bot)
    return row if row and any(text in n for n in row["notes"]) else None


def running_build(fake, sha: str) -> dict:
    """CI's `build` check run, still in progress, on `sha`."""
    return fake.add_check_run(
        REPO,
        name="build",
        head_sha=sha,
        status="in_progress",
        conclusion=None,
        app_slug="github-actions",
    )
