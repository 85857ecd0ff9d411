"""Fixtures and helpers shared by the end-to-end flow tests (task, validation,
commands): a seeded fake GitHub repository with one issue, a fake Codegen, and
settings pointing the bot at both. Registered in conftest.py as a plugin."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from typing import Any

import pytest

from tests.fakes.codegen import FakeCodegen

REPO = "octo-org/widgets"
INSTALLATION = 4242
WRITER = "maintainer-mia"
READER = "drive-by-dan"
ISSUE_BODY = """\
The export button should produce a CSV of the visible rows.

## Requirements
- Add an "Export CSV" button to the table toolbar
- [ ] Export only the rows that match the current filter

## Acceptance criteria
- [ ] Clicking the button downloads `widgets.csv`
- [ ] The file has a header row
"""


@pytest.fixture
async def fake_codegen():
    async with FakeCodegen(api_key="cg-test-key", org_id=7) as fake:
        fake.add_repo(REPO)
        yield fake
    assert not fake.server_errors, fake.server_errors


@pytest.fixture
def flow_settings(app_settings, fake_codegen):
    return dataclasses.replace(
        app_settings,
        codegen_api_key="cg-test-key",
        codegen_org_id=7,
        codegen_api_url=fake_codegen.url,
        run_poll_first_seconds=0.1,
        run_poll_max_seconds=0.3,
    )


@pytest.fixture
def seeded(fake_github):
    fake_github.add_installation(INSTALLATION, account="octo-org")
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    fake_github.set_file(REPO, "README.md", "# Widgets\nA widget catalogue.\n")
    fake_github.set_file(REPO, "pyproject.toml", '[project]\nname = "widgets"\n')
    fake_github.set_languages(REPO, {"Python": 9000, "HTML": 1000})
    fake_github.set_permission(REPO, WRITER, "write")
    fake_github.set_permission(REPO, READER, "read")
    fake_github.add_issue(
        REPO, 7, title="Export the table as CSV", body=ISSUE_BODY, user="reporter-rae"
    )
    return fake_github


def labeled_event(fake_github, example_payload, sender: str, label: str = "codegen") -> dict:
    payload = example_payload("issues", "labeled")
    issue = fake_github.issues[REPO][7]
    payload["issue"] = dict(issue)
    payload["repository"] = dict(fake_github.repos[REPO])
    payload["label"] = {"id": 1, "name": label, "color": "5319e7", "default": False}
    payload["sender"] = {"login": sender, "id": 99, "type": "User"}
    payload["installation"] = {"id": INSTALLATION}
    return payload


async def wait_until(predicate, timeout: float = 20.0):
    """Until `predicate()` (plain or awaitable) gives something true; that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def task_status(bot, status: str) -> dict[str, Any] | None:
    row = await bot.runtime.pool.fetchrow("SELECT * FROM tasks ORDER BY id DESC LIMIT 1")
    return dict(row) if row and row["status"] == status else None


def bot_comments(fake_github) -> list[dict[str, Any]]:
    return [c for c in fake_github.comments_on(REPO, 7) if c["user"]["type"] == "Bot"]


async def fail_once(pool, table: str, operation: str, when: str = "true") -> None:
    """Make the next `operation` (INSERT or UPDATE) on `table` whose row matches
    `when` fail once, inside PostgreSQL: a crash at that very point of a job,
    without touching the bot's code. The transaction around it rolls back."""
    name = f"fail_once_{table}_{operation.lower()}"
    await pool.execute(f"CREATE SEQUENCE {name}_seq")
    await pool.execute(
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{name}_seq') = 1 THEN
                    RAISE EXCEPTION 'simulated crash at {operation} on {table}';
                END IF;
                RETURN NEW;
            END $$"""
    )
    await pool.execute(
        f"""CREATE TRIGGER {name} BEFORE {operation} ON {table}
            FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()"""
    )


PR_NUMBER = 8
PR_URL = f"https://github.com/{REPO}/pull/{PR_NUMBER}"
CODEGEN_PR = {
    "url": PR_URL,
    "title": "Export CSV",
    "id": 8,
    "head_branch_name": "codegen/export-csv",
    "created_at": "2026-11-25T10:00:00Z",
}
# Validate at once (no CI reported) and never hand CI back to the agent.
QUICK = "validation:\n  ci_start_seconds: 0\nci_fix:\n  max_attempts: 0\n"


async def settle(bot, timeout: float = 15.0) -> None:
    """Until no job is queued (scheduled retries included) or running."""
    await wait_until(
        lambda: bot.runtime.pool.fetchval(
            "SELECT count(*) = 0 FROM jobs WHERE status IN ('queued', 'running')"
        ),
        timeout=timeout,
    )


def tracking(fake) -> str:
    [c] = [c for c in bot_comments(fake) if "codegen-bot:task:" in c["body"]]
    return c["body"]
