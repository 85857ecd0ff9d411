"""The simulated Codegen (no CODEGEN_API_KEY): its runs live in PostgreSQL, report
nothing that looks like a pull request, and a simulated task never links,
validates, fixes or merges a real one. Real PostgreSQL, the bot's real server and
worker, the fake GitHub."""

from __future__ import annotations

import dataclasses
import os

import asyncpg
import pytest
from jsonschema import Draft202012Validator

from app import migrations
from app.codegen.client import CodegenClient
from app.codegen.simulated import response_body
from app.pull_requests import store as pull_requests
from app.tasks import store as tasks
from app.tasks.store import PR_STAGES
from tests.fakes.codegen import GET_RUN, FakeCodegen, load_subset
from tests.support.bot import running_bot
from tests.support.events import issue_comment_event, pull_request_event
from tests.support.flow import (
    CODEGEN_PR,
    INSTALLATION,
    QUICK,
    REPO,
    WRITER,
    bot_comments,
    labeled_event,
    settle,
    wait_until,
)
from tests.support.validation import (
    CI_FIX,
    CLEAN_FILES,
    ci_run,
    open_pull,
    our_runs,
    validation_row,
)

SIM_ENDING = "Simulated run: no pull request was opened"
PULL_1 = f"https://github.com/{REPO}/pull/1"


def sim_settings(app_settings, first_poll: float = 0.05):
    settings = dataclasses.replace(
        app_settings, run_poll_first_seconds=first_poll, run_poll_max_seconds=0.1
    )
    assert settings.codegen_simulated
    return settings


async def ended_task(bot):
    row = await bot.runtime.pool.fetchrow("SELECT * FROM tasks ORDER BY id DESC LIMIT 1")
    return dict(row) if row and row["status"] not in tasks.ACTIVE else None


async def running_task(bot):
    row = await bot.runtime.pool.fetchrow("SELECT * FROM tasks ORDER BY id DESC LIMIT 1")
    return dict(row) if row and row["status"] == "running" else None


def real_pull_1(fake, body="Add a changelog"):
    """The repository's own PR #1, opened by a person long before the bot came."""
    return fake.add_pull(
        REPO,
        1,
        title="Add a changelog",
        body=body,
        user=WRITER,
        head_ref="changelog",
        files=CLEAN_FILES,
    )


# ---------------------------------------------------------------------- the simulator


def test_a_simulated_run_has_the_shape_of_codegens_agent_run_response() -> None:
    schema = load_subset()[GET_RUN]["responses"]["200"]["schema"]
    for polls in (0, 1, 3):
        body = response_body(
            run_id=5,
            org_id=0,
            polls=polls,
            polls_to_complete=3,
            metadata={"task_id": 1, "repository": REPO},
            created_at="2026-11-30T10:00:00+00:00",
        )
        assert list(Draft202012Validator(schema).iter_errors(body)) == []
        assert body["github_pull_requests"] == []
        assert "github.com" not in str(body)


# ---------------------------------------------------------------------- end to end


@pytest.mark.parametrize("ci", ["success", "failure"])
async def test_a_simulated_task_leaves_the_repositorys_pr_1_alone(
    app_settings, seeded, example_payload, ci
):
    """Run id 1 once reported `.../pull/1`: the bot linked the repository's real PR
    #1, validated it, sent its CI failures to the "agent" and auto-merged it."""
    seeded.set_file(REPO, ".github/codegen.yml", CI_FIX + "auto_merge: true\n")
    seeded.installations[INSTALLATION]["permissions"]["contents"] = "write"
    sha = real_pull_1(seeded)["head"]["sha"]
    ci_run(seeded, sha, "tests", ci)
    async with running_bot(sim_settings(app_settings)) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        task = await wait_until(lambda: ended_task(bot))
        await settle(bot)
        linked = await bot.runtime.pool.fetchval("SELECT count(*) FROM pull_requests")
        sent = await bot.runtime.pool.fetchval("SELECT count(*) FROM agent_followups")
        task = await ended_task(bot)
    assert task["simulated"] is True
    assert task["status"] == "cancelled" and task["pull_requests"] == "[]"
    assert linked == 0 and sent == 0
    assert our_runs(seeded, sha) == []  # not validated
    assert seeded.reviews_on(REPO, 1) == []
    assert seeded.pulls[REPO][1]["state"] == "open" and not seeded.pulls[REPO][1]["merged"]
    [comment] = bot_comments(seeded)
    assert SIM_ENDING in comment["body"]
    assert "would now implement this and open a pull request" in comment["body"]
    assert "/pull/1" not in comment["body"]


async def test_a_simulated_run_survives_a_restart_and_another_worker_finishes_it(
    app_settings, seeded, example_payload
):
    # The first process makes the run, then stops before its first poll is due.
    async with running_bot(sim_settings(app_settings, first_poll=1.5)) as first:
        await first.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: running_task(first))
        run_id = await first.runtime.pool.fetchval("SELECT agent_run_id FROM codegen_requests")
    # A new process (new runtime, new worker, same database) polls it to the end.
    async with running_bot(sim_settings(app_settings)) as second:
        task = await wait_until(lambda: ended_task(second))
        await settle(second)
        request = await second.runtime.pool.fetchrow("SELECT * FROM codegen_requests")
        assert task["status"] == "cancelled", task["status_detail"]
        assert request["status"] == "complete"
        polls = await second.runtime.pool.fetchval(
            "SELECT polls FROM simulated_runs WHERE id = $1", run_id
        )
    assert polls == 3
    [comment] = bot_comments(seeded)
    assert SIM_ENDING in comment["body"]


async def test_a_fixes_pr_on_a_simulated_tasks_issue_is_not_linked(
    app_settings, seeded, example_payload
):
    real_pull_1(seeded, body="Fixes #7")
    # Polls far apart: the simulated task is still running when the PR comes.
    async with running_bot(sim_settings(app_settings, first_poll=60)) as bot:
        await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: running_task(bot))
        status, _ = await bot.deliver(
            "pull_request", pull_request_event(seeded, "opened", REPO, 1, sender=WRITER)
        )
        assert status == 202
        await bot.wait_idle()
        linked = await bot.runtime.pool.fetchval("SELECT count(*) FROM pull_requests")
    assert linked == 0
    assert our_runs(seeded, seeded.pulls[REPO][1]["head"]["sha"]) == []


async def test_a_pull_request_record_never_links_to_a_simulated_task(pool):
    """The store's own guard, whatever path asks for the link (a command, a
    validation of every PR, a `Fixes #N`)."""
    made = []
    for simulated, number in ((True, 7), (False, 8)):
        task = await tasks.create(
            pool,
            installation_id=INSTALLATION,
            repository=REPO,
            issue_number=number,
            issue_url=f"https://github.com/{REPO}/issues/{number}",
            issue_author="reporter-rae",
            title="Export",
            triggered_by=WRITER,
            simulated=simulated,
        )
        made.append(task)
    sim, real = made
    pr = await pull_requests.upsert(
        pool,
        installation_id=INSTALLATION,
        repository=REPO,
        number=1,
        head_sha="a" * 40,
        head_ref="changelog",
        task_id=sim.id,
    )
    assert pr.task_id is None
    pr = await pull_requests.upsert(
        pool,
        installation_id=INSTALLATION,
        repository=REPO,
        number=2,
        head_sha="b" * 40,
        head_ref="export",
        task_id=real.id,
    )
    assert pr.task_id == real.id


async def test_a_simulated_run_polled_after_an_api_key_was_set_takes_no_real_runs_pr(
    app_settings, seeded, example_payload
):
    """Restarted with a key while a simulated run was out: Codegen's run with the same
    id is someone else's, and its PR (the repository's #1) is not the task's."""
    real_pull_1(seeded)
    async with running_bot(sim_settings(app_settings, first_poll=1.5)) as first:
        await first.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: running_task(first))
        run_id = await first.runtime.pool.fetchval("SELECT agent_run_id FROM codegen_requests")
    async with FakeCodegen(api_key="cg-test-key", org_id=7, first_run_id=run_id) as codegen:
        codegen.add_repo(REPO)
        codegen.script_run(statuses=["COMPLETE"], pull_requests=[dict(CODEGEN_PR, url=PULL_1)])
        other = CodegenClient(api_url=codegen.url, api_key="cg-test-key", org_id=7)
        try:  # another user's real run in the organization, with the same id
            assert (await other.create_run("theirs", metadata={"by": "someone"})).id == run_id
        finally:
            await other.aclose()
        settings = dataclasses.replace(
            sim_settings(app_settings),
            codegen_api_key="cg-test-key",
            codegen_org_id=7,
            codegen_api_url=codegen.url,
        )
        async with running_bot(settings) as second:
            task = await wait_until(lambda: ended_task(second))
            await settle(second)
            linked = await second.runtime.pool.fetchval("SELECT count(*) FROM pull_requests")
    assert task["status"] == "cancelled" and task["pull_requests"] == "[]"
    assert linked == 0
    assert our_runs(seeded, seeded.pulls[REPO][1]["head"]["sha"]) == []


async def test_a_retry_after_an_api_key_was_set_links_the_real_runs_pr(
    app_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    async with running_bot(sim_settings(app_settings)) as first:
        await first.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        await wait_until(lambda: ended_task(first))
        await settle(first)
    settings = dataclasses.replace(
        sim_settings(app_settings),
        codegen_api_key="cg-test-key",
        codegen_org_id=7,
        codegen_api_url=fake_codegen.url,
    )
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    async with running_bot(settings) as second:
        comment = issue_comment_event(seeded, "created", REPO, 7, "/codegen retry", user=WRITER)
        assert (await second.deliver("issue_comment", comment))[0] == 202
        await wait_until(lambda: validation_row(second, sha))
        await settle(second)
        task = await ended_task(second)
        linked = await second.runtime.pool.fetchval("SELECT task_id FROM pull_requests")
    assert task["simulated"] is False and task["status"] in PR_STAGES, task["status"]
    assert linked == task["id"]
    assert len(our_runs(seeded, sha)) == 1


@pytest.fixture
async def blank_dsn(postgres):
    name = f"blank_{os.getpid()}_{id(object())}"
    admin = await asyncpg.connect(postgres.uri("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield postgres.uri(name)
    admin = await asyncpg.connect(postgres.uri("postgres"))
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_the_upgrade_unlinks_what_earlier_simulated_runs_linked(blank_dsn, tmp_path):
    """Before 005 a simulated run reported the repository's real PR #1 and the bot
    linked it: upgrading drops that link, stops its validation and ends the task."""
    for path in migrations.discover():
        if int(path.name.split("_")[0]) < 5:
            (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(blank_dsn)
    try:
        await migrations.migrate(conn, tmp_path)
        ids = {}
        for simulated, number in ((True, 7), (False, 8)):
            pr_url = f"https://github.com/{REPO}/pull/{number - 6}"
            ids[simulated] = await conn.fetchval(
                """INSERT INTO tasks (installation_id, repository, issue_number, issue_url,
                       issue_author, title, triggered_by, simulated, status, pull_requests)
                   VALUES ($1, $2, $3, 'u', 'rae', 't', 'mia', $4, 'validating', $5::jsonb)
                   RETURNING id""",
                INSTALLATION,
                REPO,
                number,
                simulated,
                f'[{{"url": "{pr_url}"}}]',
            )
            pr_id = await conn.fetchval(
                """INSERT INTO pull_requests (installation_id, repository, number, task_id,
                       head_sha) VALUES ($1, $2, $3, $4, 'abc') RETURNING id""",
                INSTALLATION,
                REPO,
                number - 6,
                ids[simulated],
            )
            await conn.execute(
                """INSERT INTO validations (pull_request_id, head_sha, trigger)
                   VALUES ($1, 'abc', 't')""",
                pr_id,
            )
        await migrations.migrate(conn)
        rows = {
            r["simulated"]: r
            for r in await conn.fetch(
                """SELECT t.simulated, t.status, t.pull_requests::text AS prs, p.task_id,
                          v.status AS validation
                   FROM tasks t JOIN pull_requests p ON p.number = t.issue_number - 6
                   JOIN validations v ON v.pull_request_id = p.id"""
            )
        }
    finally:
        await conn.close()
    sim, real = rows[True], rows[False]
    assert (sim["status"], sim["prs"], sim["task_id"], sim["validation"]) == (
        "cancelled",
        "[]",
        None,
        "superseded",
    )
    assert (real["status"], real["task_id"], real["validation"]) == (
        "validating",
        ids[False],
        "queued",
    )
