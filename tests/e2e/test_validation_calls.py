"""What one validation costs in GitHub calls while the repository's CI is still
running (the usual case for an agent's fresh PR) and when it has finished,
counted route by route at the fake GitHub's request log; and that reading CI
before creating the check run loses no CI change. Real PostgreSQL, the bot's
real server and worker, fake GitHub and Codegen servers."""

from __future__ import annotations

import asyncio
from collections import Counter

from app.db import advisory_lock
from app.validation.keys import lock_key
from tests.fakes.github.routing import GitHubError
from tests.support.bot import running_bot
from tests.support.events import check_run_event, pull_request_event
from tests.support.flow import PR_NUMBER, QUICK, REPO, WRITER, wait_until
from tests.support.validation import CLEAN_FILES, KEY_PATCH, open_pull, our_runs, running_build

VALIDATE_ALL = "validate: all\n" + QUICK
FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"
CHECK_RUNS = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"
STATUS = "GET /repos/{owner}/{repo}/commits/{ref}/status"
SETTINGS = "GET /repos/{owner}/{repo}/contents/{path}"
CREATE = "POST /repos/{owner}/{repo}/check-runs"
PATCH = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"
REVIEW = "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews"


def calls(fake, since: int) -> Counter[str]:
    """Requests made with an installation token from `since` on, by route."""
    return Counter(
        f"{r.method} {r.route}"
        for r in fake.requests[since:]
        if r.route and not r.route.startswith("/app")
    )


async def status_of(bot, sha: str) -> str | None:
    return await bot.runtime.pool.fetchval(
        "SELECT status FROM validations WHERE head_sha = $1 ORDER BY id DESC LIMIT 1", sha
    )


async def reviewed(bot, sha: str) -> bool:
    return bool(
        await bot.runtime.pool.fetchval(
            "SELECT count(*) FROM validations WHERE head_sha = $1 AND review_id IS NOT NULL", sha
        )
    )


async def validate_while_ci_runs(bot, fake, number: int, sha: str) -> Counter[str]:
    """A PR opened while its CI runs, the CI finishing later: the calls."""
    build = running_build(fake, sha)
    start = len(fake.requests)
    opened = pull_request_event(fake, "opened", REPO, number, sender=WRITER)
    assert (await bot.deliver("pull_request", opened))[0] == 202
    await wait_until(lambda: _is(bot, sha, "waiting_ci"))
    await bot.wait_idle()
    [run] = our_runs(fake, sha)
    assert run["status"] == "in_progress" and run["output"]["title"] == "Waiting for CI"
    assert "`build`" in run["output"]["summary"]
    build.update(status="completed", conclusion="success")
    event = check_run_event(fake, "completed", REPO, build["id"], sender="ci-bot")
    assert (await bot.deliver("check_run", event))[0] == 202
    await wait_until(lambda: reviewed(bot, sha))
    await bot.wait_idle()
    return calls(fake, start)


async def _is(bot, sha: str, status: str) -> bool:
    return await status_of(bot, sha) == status


async def test_a_validation_while_ci_runs_costs_8_calls_once_settings_are_read(
    flow_settings, seeded
):
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    first_sha = open_pull(seeded, CLEAN_FILES, body="Adds the export.")["head"]["sha"]
    second = seeded.add_pull(
        REPO, PR_NUMBER + 1, title="Filters", body="Adds filters.", user=WRITER, files=CLEAN_FILES
    )
    async with running_bot(flow_settings) as bot:
        first = await validate_while_ci_runs(bot, seeded, PR_NUMBER, first_sha)
        again = await validate_while_ci_runs(bot, seeded, PR_NUMBER + 1, second["head"]["sha"])

    # CI is read before the check run is created, which says "Waiting for CI"
    # at once: no PATCH to say so; one PATCH, the verdict.
    expected = Counter(
        {CHECK_RUNS: 2, STATUS: 2, CREATE: 1, FILES: 1, PATCH: 1, REVIEW: 1, SETTINGS: 2}
    )
    assert first == expected, first
    # The repository's file and its organisation's absent defaults are kept.
    assert again == expected - Counter({SETTINGS: 2}), again
    assert again.total() == 8


async def validate_with_ci_done(bot, fake, number: int, sha: str) -> Counter[str]:
    """A PR opened once its CI has finished (`build` passed): the calls."""
    fake.add_check_run(REPO, name="build", head_sha=sha, app_slug="github-actions")
    start = len(fake.requests)
    opened = pull_request_event(fake, "opened", REPO, number, sender=WRITER)
    assert (await bot.deliver("pull_request", opened))[0] == 202
    await wait_until(lambda: reviewed(bot, sha))
    await bot.wait_idle()
    return calls(fake, start)


async def test_a_validation_of_finished_ci_costs_5_calls_once_settings_are_read(
    flow_settings, seeded
):
    """CI has finished and the PR is small: the check run is created with its
    verdict, annotations and buttons in one POST (no `in_progress` POST and
    verdict PATCH), after the files were read and analysed."""
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    first_sha = open_pull(seeded, CLEAN_FILES, body="Adds the export.")["head"]["sha"]
    second = seeded.add_pull(
        REPO, PR_NUMBER + 1, title="Filters", body="Adds filters.", user=WRITER, files=CLEAN_FILES
    )
    async with running_bot(flow_settings) as bot:
        first = await validate_with_ci_done(bot, seeded, PR_NUMBER, first_sha)
        again = await validate_with_ci_done(bot, seeded, PR_NUMBER + 1, second["head"]["sha"])
        row = await bot.runtime.pool.fetchrow(
            "SELECT * FROM validations WHERE head_sha = $1", first_sha
        )
    expected = Counter({CHECK_RUNS: 1, STATUS: 1, FILES: 1, CREATE: 1, REVIEW: 1, SETTINGS: 2})
    assert first == expected, first
    assert again == expected - Counter({SETTINGS: 2}), again
    assert again.total() == 5
    [run] = our_runs(seeded, first_sha)
    assert run["status"] == "completed" and run["conclusion"] == "success"
    assert run["external_id"] == f"validation:{row['id']}"
    assert row["status"] == "completed" and row["check_run_id"] == run["id"]
    [create] = [r for r in seeded.calls("POST", r"/check-runs$") if r.json["head_sha"] == first_sha]
    assert create.json["status"] == "completed" and create.json["conclusion"] == "success"
    assert create.json["output"]["title"] == "Passed"
    assert "started_at" in create.json and "completed_at" in create.json
    order = [f"{r.method} {r.route}" for r in seeded.requests]
    assert order.index(FILES) < order.index(CREATE), "created before the files were read"


async def test_a_big_pr_gets_its_in_progress_check_run_before_its_analysis(flow_settings, seeded):
    """CI has finished but the PR has more than ONE_POST_FILES files: its
    analysis can take minutes, so the check run is created `in_progress` as
    soon as the files are read, and the verdict follows in a PATCH."""
    from app.validation.run import ONE_POST_FILES

    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    many = [
        {"filename": f"docs/page_{i}.md", "status": "added", "patch": "@@ -0,0 +1 @@\n+Hello"}
        for i in range(ONE_POST_FILES + 1)
    ]
    sha = open_pull(seeded, many, body="Adds the docs.")["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        used = await validate_with_ci_done(bot, seeded, PR_NUMBER, sha)
    [run] = our_runs(seeded, sha)
    [create] = seeded.calls("POST", r"/check-runs$")
    assert create.json["status"] == "in_progress" and "conclusion" not in create.json
    [patch] = seeded.calls("PATCH", rf"/check-runs/{run['id']}$")
    assert patch.json["conclusion"] == run["conclusion"]
    assert used[CREATE] == 1 and used[PATCH] == 1


async def test_a_push_before_a_one_post_verdict_creates_nothing_on_the_old_head(
    flow_settings, seeded
):
    """A newer commit is pushed, and its event recorded, after the old head's
    files were read and before its check run (created with the verdict) is
    posted: the old head gets no check run at all, and no review."""
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    key_file = {"filename": "settings.py", "status": "modified", "patch": KEY_PATCH}
    old = open_pull(seeded, [key_file], body="Adds the export.")["head"]["sha"]
    seeded.add_check_run(REPO, name="build", head_sha=old, app_slug="github-actions")
    pushed: list[str] = []

    async def files_then_push(ctx):
        seeded._extra_routes.remove(route)
        answer = seeded._list_pull_files(ctx)  # the old head's files
        new = seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
        pushed.append(new)
        event = pull_request_event(seeded, "synchronize", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        await wait_until(lambda: _is(bot, old, "superseded"))
        return answer

    route = seeded.add_route(
        "GET",
        "/repos/{owner}/{repo}/pulls/{pull_number}/files",
        files_then_push,
        permission="pull_requests:read",
    )
    async with running_bot(flow_settings) as bot:
        opened = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", opened))[0] == 202
        await wait_until(lambda: pushed or None)
        await wait_until(lambda: reviewed(bot, pushed[0]), timeout=30)
        await bot.wait_idle()
        stale = await bot.runtime.pool.fetchrow(
            "SELECT * FROM validations WHERE head_sha = $1", old
        )
    assert stale["status"] == "superseded" and stale["findings"] is not None  # analysed
    assert our_runs(seeded, old) == []
    assert stale["check_run_id"] is None and stale["review_id"] is None
    assert [r["commit_id"] for r in seeded.reviews_on(REPO, PR_NUMBER)] == [pushed[0]]
    [new_run] = our_runs(seeded, pushed[0])
    assert new_run["status"] == "completed"


async def test_ci_that_finishes_while_the_validation_starts_is_not_missed(flow_settings, seeded):
    """CI is read (running) before the check run is created; it fails, and its
    event arrives, before the validation waits for it (held at the PR's lock):
    the event finds the validation starting, comes back once it waits and
    reads CI again, so the verdict is CI's failure, not a wait until the CI
    timeout on what the validation read first."""
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    sha = open_pull(seeded, CLEAN_FILES, body="Adds the export.")["head"]["sha"]
    build = running_build(seeded, sha)
    held, release = asyncio.Event(), asyncio.Event()
    holders: list[asyncio.Task] = []

    async def hold_the_pr_lock(pool) -> None:
        async with advisory_lock(pool, lock_key(REPO, PR_NUMBER)):
            held.set()
            await release.wait()

    def create_then_fail_ci(ctx):
        seeded._extra_routes.remove(route)
        build.update(status="completed", conclusion="failure")  # after the bot read it
        holders.append(asyncio.get_running_loop().create_task(hold_the_pr_lock(pool)))
        return seeded._create_check_run(ctx)

    route = seeded.add_route(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        create_then_fail_ci,
        permission="checks:write",
        creates_content=True,
    )
    async with running_bot(flow_settings) as bot:
        pool = bot.runtime.pool
        opened = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", opened))[0] == 202
        await asyncio.wait_for(held.wait(), 20)
        await wait_until(lambda: pool.fetchval("SELECT findings IS NOT NULL FROM validations"))
        assert await status_of(bot, sha) == "in_progress"  # analysed, not yet waiting
        event = check_run_event(seeded, "completed", REPO, build["id"], sender="ci-bot")
        try:
            assert (await bot.deliver("check_run", event))[0] == 202
            await wait_until(
                lambda: pool.fetchval("SELECT count(*) FROM jobs WHERE payload ? 'ci_wake'"),
                timeout=10,
            )
        finally:
            release.set()
        await wait_until(lambda: reviewed(bot, sha), timeout=30)
        await bot.wait_idle()
        await asyncio.gather(*holders)
    [run] = our_runs(seeded, sha)
    assert run["conclusion"] == "failure"


async def test_a_retry_that_finds_its_check_run_says_it_waits_for_ci(flow_settings, seeded):
    """A try creates the check run ("Validating": CI had not started) and dies
    before recording it; CI starts before the retry, which reads it running and
    finds the check run the first try made. That run must still come to say
    "Waiting for CI": the retry did not create it, so it was not announced."""
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    sha = open_pull(seeded, CLEAN_FILES, body="Adds the export.")["head"]["sha"]

    def create_then_die(ctx):
        seeded._extra_routes.remove(route)
        seeded._create_check_run(ctx)  # made on GitHub, never recorded by the bot
        running_build(seeded, sha)  # CI starts before the retry
        raise GitHubError(403, "the try dies after the create")

    route = seeded.add_route(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        create_then_die,
        permission="checks:write",
        creates_content=True,
    )
    async with running_bot(flow_settings) as bot:
        opened = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", opened))[0] == 202
        await wait_until(lambda: _is(bot, sha, "waiting_ci"), timeout=30)
        await bot.wait_idle()
    [run] = our_runs(seeded, sha)  # found again, not created twice
    assert run["status"] == "in_progress"
    assert run["output"]["title"] == "Waiting for CI"
    assert "`build`" in run["output"]["summary"]
