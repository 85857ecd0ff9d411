"""A repository renamed or transferred while the bot works on it: the
`repository` event moves every task and PR record of the repository (known by
its id) to the new name, so the work started under the old name goes on under
the new one. Real PostgreSQL, the bot's real server and worker, the fake
GitHub (which answers 404 for the old name) and the fake Codegen."""

from __future__ import annotations

import dataclasses
import os
import shutil

import asyncpg
import pytest

from app import migrations
from app.installations.moves import old_names, previous_name
from tests.support.bot import running_bot
from tests.support.events import pull_request_event
from tests.support.flow import (
    INSTALLATION,
    PR_NUMBER,
    QUICK,
    REPO,
    WRITER,
    fail_once,
    labeled_event,
    task_status,
    wait_until,
)

NEW = "octo-org/gizmos"
FILES = [
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


def moved_event(example_payload, fake, action: str, full_name: str, **changes) -> dict:
    """A `repository` delivery from GitHub's example, about the fake's repository."""
    payload = example_payload("repository", action)
    payload["repository"] = dict(fake.repos[full_name])
    payload["installation"] = {"id": INSTALLATION}
    payload["sender"] = {"login": "octo-admin", "id": 5, "type": "User"}
    payload["changes"] = changes
    payload.pop("organization", None)
    return payload


async def test_a_task_started_before_a_rename_links_validates_and_comments_after_it(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    repo_id = seeded.repos[REPO]["id"]
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)  # until the test ends it
    async with running_bot(flow_settings) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: task_status(bot, "running"))
        await bot.wait_idle()  # the comment says so: nothing is on its way to GitHub
        [comment] = [c for c in seeded.comments_on(REPO, 7) if c["user"]["type"] == "Bot"]

        seeded.rename_repo(REPO, NEW)
        since = len(seeded.requests)
        renamed = moved_event(
            example_payload, seeded, "renamed", NEW, repository={"name": {"from": "widgets"}}
        )
        assert (await bot.deliver("repository", renamed))[0] == 202
        await wait_until(
            lambda: bot.runtime.pool.fetchval("SELECT repository = $1 FROM tasks", NEW)
        )

        # The agent opens its PR on the repository as it is named now.
        pull = seeded.add_pull(
            NEW,
            PR_NUMBER,
            title="Export CSV",
            body="Fixes #7",
            user="codegen-agent",
            head_ref="codegen/export-csv",
            files=FILES,
        )
        event = pull_request_event(seeded, "opened", NEW, PR_NUMBER, sender="codegen-agent")
        await bot.deliver("pull_request", event)
        [run_id] = fake_codegen.runs
        fake_codegen.set_run(
            run_id,
            status="COMPLETE",
            github_pull_requests=[
                {
                    "url": pull["html_url"],
                    "title": "Export CSV",
                    "id": PR_NUMBER,
                    "head_branch_name": "codegen/export-csv",
                    "created_at": "2026-11-25T10:00:00Z",
                }
            ],
        )
        task = await wait_until(lambda: task_status(bot, "passed"), timeout=30)
        await bot.wait_idle()
        pr = await bot.runtime.pool.fetchrow("SELECT * FROM pull_requests")
        validations = await bot.runtime.pool.fetchval("SELECT count(*) FROM validations")

    assert task["repository"] == NEW and task["repository_id"] == repo_id
    assert task["issue_url"].endswith(f"/{NEW}/issues/7")
    assert pr["repository"] == NEW and pr["task_id"] == task["id"]
    assert pr["repository_id"] == repo_id and validations == 1
    [run] = [r for r in seeded.check_runs_for(NEW) if r["name"] == "codegen/validation"]
    assert run["conclusion"] == "success" and run["head_sha"] == pull["head"]["sha"]
    [edited] = [c for c in seeded.comments_on(NEW, 7) if c["user"]["type"] == "Bot"]
    assert edited["id"] == comment["id"] and "Validation of `" in edited["body"]
    after = seeded.requests[since:]
    edits = [c for c in after if c.method == "PATCH" and c.path.endswith(f"/{comment['id']}")]
    assert edits and all(c.path == f"/repos/{NEW}/issues/comments/{comment['id']}" for c in edits)
    assert not [c for c in after if c.path.startswith(f"/repos/{REPO}/")]


async def test_a_transfer_moves_old_rows_and_sets_apart_those_of_the_name_before(
    bot, example_payload, fake_github
):
    """Rows made before ids were kept (found by the old name) move too; rows of a
    deleted repository that had the new name are set apart, not overwritten."""
    fake_github.add_repo("alice/tool", repo_id=555, installation_id=INSTALLATION)
    fake_github.rename_repo("alice/tool", "octo-org/tool")
    pool = bot.runtime.pool
    await pool.execute(
        """INSERT INTO tasks (installation_id, repository, repository_id, issue_number,
                              issue_url, issue_author, title, triggered_by, status)
           VALUES (1, 'alice/tool', NULL, 1, 'https://github.com/alice/tool/issues/1',
                   'a', 't', 'a', 'running'),
                  (1, 'alice/tool', 555, 2, 'u', 'a', 't', 'a', 'pr_open'),
                  (1, 'octo-org/tool', 999, 3, 'u', 'a', 't', 'a', 'failed')"""
    )
    await pool.execute(
        """INSERT INTO pull_requests (installation_id, repository, repository_id, number,
                                      head_sha)
           VALUES (1, 'alice/tool', NULL, 5, 'a'), (1, 'octo-org/tool', 999, 5, 'b')"""
    )
    transferred = moved_event(
        example_payload,
        fake_github,
        "transferred",
        "octo-org/tool",
        owner={"from": {"user": {"login": "alice", "id": 1, "type": "User"}}},
    )
    assert (await bot.deliver("repository", transferred))[0] == 202
    await bot.wait_idle()

    tasks = await pool.fetch("SELECT * FROM tasks ORDER BY issue_number")
    assert [(t["repository"], t["repository_id"]) for t in tasks] == [
        ("octo-org/tool", 555),
        ("octo-org/tool", 555),
        ("octo-org/tool (repository 999)", 999),
    ]
    assert [t["installation_id"] for t in tasks] == [INSTALLATION, INSTALLATION, 1]
    assert tasks[0]["issue_url"] == "https://github.com/octo-org/tool/issues/1"
    prs = await pool.fetch("SELECT repository, head_sha FROM pull_requests ORDER BY head_sha")
    assert [tuple(p) for p in prs] == [
        ("octo-org/tool", "a"),
        ("octo-org/tool (repository 999)", "b"),
    ]
    assert await pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"


async def test_a_rename_handled_after_a_newer_one_leaves_the_newest_name(
    bot, example_payload, fake_github
):
    """Deliveries can be handled out of order: the repositories table keeps the
    name from the newest delivery, and the rows follow that name."""
    pool = bot.runtime.pool
    await pool.execute(
        """INSERT INTO installations (id, account_login) VALUES ($1, 'octo-org');
           INSERT INTO repositories (id, installation_id, full_name, synced_at)
           VALUES (555, $1, 'octo-org/third', now() + interval '1 hour');
           INSERT INTO tasks (installation_id, repository, repository_id, issue_number,
                              issue_url, issue_author, title, triggered_by)
           VALUES ($1, 'octo-org/first', 555, 1, 'u', 'a', 't', 'a')""".replace(
            "$1", str(INSTALLATION)
        )
    )
    fake_github.add_repo("octo-org/second", repo_id=555, installation_id=INSTALLATION)
    renamed = moved_event(
        example_payload,
        fake_github,
        "renamed",
        "octo-org/second",
        repository={"name": {"from": "first"}},
    )
    await bot.deliver("repository", renamed)
    await bot.wait_idle()
    assert await pool.fetchval("SELECT repository FROM tasks") == "octo-org/third"
    assert await pool.fetchval("SELECT full_name FROM repositories") == "octo-org/third"


async def test_a_move_forgets_what_was_cached_under_each_name_it_had(
    bot, example_payload, fake_github
):
    """Permission levels, settings files and repository contexts cached under
    the old name (which someone may now create again) or the new one (cached
    before the move reached us) are dropped; another repository's stay."""
    fake_github.add_repo("octo-org/first", repo_id=556, installation_id=INSTALLATION)
    fake_github.rename_repo("octo-org/first", "octo-org/second")
    caches = bot.runtime.github.caches
    for name in ("octo-org/first", "octo-org/second", "octo-org/other"):
        caches.permissions[(name, "mia")] = "write"
        caches.settings_files[name] = ("x: 1", "sha")
        caches.repo_contexts[(name, "tree")] = object()
    renamed = moved_event(
        example_payload,
        fake_github,
        "renamed",
        "octo-org/second",
        repository={"name": {"from": "first"}},
    )
    assert (await bot.deliver("repository", renamed))[0] == 202
    await bot.wait_idle()
    assert await bot.runtime.pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"
    assert list(caches.permissions) == [("octo-org/other", "mia")]
    assert list(caches.settings_files) == ["octo-org/other"]
    assert list(caches.repo_contexts) == [("octo-org/other", "tree")]


@pytest.mark.parametrize(
    ("action", "index", "expected"),
    [("renamed", 0, "Octocoders/Hello-World"), ("transferred", 0, "octocat/Hello-World")],
)
def test_previous_name_from_githubs_examples(webhook_examples, action, index, expected):
    [group] = [g for g in webhook_examples if g["name"] == "repository"]
    payload = [e for e in group["examples"] if e["action"] == action][index]
    # GitHub's renamed example names the repository `Hello-World` before and after.
    assert previous_name(payload) == expected
    assert previous_name({"action": "renamed", "repository": {}}) is None


def test_old_names_are_every_known_name_but_the_current_one():
    current = "octo-org/Gizmos"
    known = ("octo-org/widgets", None, "octo-org/gizmos", "Octo-Org/Widgets", "")
    assert old_names(current, known) == {"octo-org/widgets", "Octo-Org/Widgets"}
    assert old_names(current, (None, current)) == set()


async def test_migration_006_backfills_ids_from_the_repositories_table(postgres, tmp_path):
    """Rows made before ids were kept get the id of the repository holding the
    name now (a present one over a removed one); unknown names stay without."""
    earlier = [f for f in migrations.discover() if int(f.name[:3]) < 6]
    for path in earlier:
        shutil.copy(path, tmp_path / path.name)
    name = f"backfill_{os.getpid()}"
    admin = await asyncpg.connect(postgres.uri("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(postgres.uri(name))
    try:
        await migrations.migrate(conn, tmp_path)
        await conn.execute(
            """INSERT INTO installations (id, account_login) VALUES (1, 'octo');
               INSERT INTO repositories (id, installation_id, full_name, removed_at)
               VALUES (10, 1, 'octo/app', now()), (11, 1, 'Octo/App', NULL);
               INSERT INTO tasks (installation_id, repository, issue_number, issue_url,
                                  issue_author, title, triggered_by)
               VALUES (1, 'octo/APP', 1, 'u', 'a', 't', 'a'),
                      (1, 'octo/other', 2, 'u', 'a', 't', 'a');
               INSERT INTO pull_requests (installation_id, repository, number, head_sha)
               VALUES (1, 'octo/app', 3, 'a'), (1, 'octo/other', 4, 'b')"""
        )
        assert "006_status_indexes_and_repository_ids.sql" in await migrations.migrate(conn)
        tasks = await conn.fetch("SELECT repository_id FROM tasks ORDER BY issue_number")
        prs = await conn.fetch("SELECT repository_id FROM pull_requests ORDER BY number")
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    assert [r["repository_id"] for r in tasks] == [11, None]
    assert [r["repository_id"] for r in prs] == [11, None]


async def test_a_run_created_before_a_rename_is_found_not_made_again_after_a_crash(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The job creating the agent run dies after Codegen made it and before the
    bot stored its id, and the repository is renamed before the job's retry: the
    retry must find the run (by what does not change with the name), not create
    and pay for a second one."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    fake_codegen.script_run(statuses=["ACTIVE"] * 1000)
    settings = dataclasses.replace(flow_settings, job_retry_base_seconds=3.0)
    async with running_bot(settings) as bot:
        await fail_once(
            bot.runtime.pool, "codegen_requests", "UPDATE", "NEW.agent_run_id IS NOT NULL"
        )
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: len(fake_codegen.created) == 1 or None)
        seeded.rename_repo(REPO, NEW)
        renamed = moved_event(
            example_payload, seeded, "renamed", NEW, repository={"name": {"from": "widgets"}}
        )
        assert (await bot.deliver("repository", renamed))[0] == 202
        task = await wait_until(lambda: task_status(bot, "running"), timeout=30)
        await bot.wait_idle()
        request = await bot.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
    assert len(fake_codegen.created) == 1, "a second agent run was created after the rename"
    assert task["repository"] == NEW
    assert request["agent_run_id"] == next(iter(fake_codegen.runs))
