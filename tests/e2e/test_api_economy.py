"""API economy end to end, counted at the fake GitHub's request log: the calls
one ordinary validation costs, the conditional reads (304 Not Modified) a second
validation of the same head gets, and how many installation tokens a run of
many validations and tasks mints. Real PostgreSQL, the bot's real server and
worker, fake GitHub and Codegen servers."""

from __future__ import annotations

import time
from collections import Counter

from tests.support.bot import running_bot
from tests.support.events import check_run_event, issue_event, pull_request_event
from tests.support.flow import INSTALLATION, PR_NUMBER, QUICK, REPO, WRITER, wait_until
from tests.support.validation import CLEAN_FILES, ci_run, open_pull, our_runs

VALIDATE_ALL = "validate: all\n" + QUICK
MAX_CALLS_PER_VALIDATION = 8


def installation_calls(fake, since: int = 0) -> list:
    """Requests made with an installation token (not the App's JWT) from `since` on."""
    return [r for r in fake.requests[since:] if r.route and not r.route.startswith("/app")]


def routes(calls) -> Counter[str]:
    return Counter(f"{r.method} {r.route}" for r in calls)


async def reviewed_validations(bot, sha: str, count: int) -> bool:
    done = await bot.runtime.pool.fetchval(
        "SELECT count(*) FROM validations WHERE head_sha = $1 AND review_id IS NOT NULL", sha
    )
    return done >= count


async def test_one_validation_costs_at_most_8_calls_and_a_rerun_reads_conditionally(
    flow_settings, seeded
):
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    pull = open_pull(seeded, CLEAN_FILES)
    sha = pull["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    seeded.add_status(REPO, sha, context="ci/legacy", state="success")
    async with running_bot(flow_settings) as bot:
        start = len(seeded.requests)
        event = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        await wait_until(lambda: reviewed_validations(bot, sha, 1))
        await bot.wait_idle()
        first = installation_calls(seeded, start)

        # The Re-run button: the same head validated again.
        again = len(seeded.requests)
        [run] = our_runs(seeded, sha)
        rerun = check_run_event(seeded, "rerequested", REPO, run["id"], sender=WRITER)
        assert (await bot.deliver("check_run", rerun))[0] == 202
        await wait_until(lambda: reviewed_validations(bot, sha, 2))
        await bot.wait_idle()
        second = installation_calls(seeded, again)

    assert len(first) <= MAX_CALLS_PER_VALIDATION, routes(first)
    by_route = routes(first)
    # Only a crashed earlier try needs to look for its check run or its review.
    assert by_route["GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"] == 0
    assert by_route["GET /repos/{owner}/{repo}/commits/{ref}/check-runs"] == 1  # CI only
    # The settings: the repository's file and its organisation's (`.github`, absent).
    assert by_route["GET /repos/{owner}/{repo}/contents/{path}"] == 2
    assert not [r for r in first if r.status == 304]  # nothing was read before

    # The second validation of the head: its own check run and review, the same
    # verdict, and the reads that did not change answered 304 without a body.
    runs = our_runs(seeded, sha)
    assert len(runs) == 2 and {r["conclusion"] for r in runs} == {"success"}
    assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 2
    assert len(second) <= MAX_CALLS_PER_VALIDATION + 1, routes(second)  # + who clicked
    not_modified = routes(r for r in second if r.status == 304)
    assert not_modified == Counter(
        {
            "GET /repos/{owner}/{repo}/pulls/{pull_number}/files": 1,
            "GET /repos/{owner}/{repo}/commits/{ref}/status": 1,
        }
    ), routes(second)
    for call in (r for r in second if r.status == 304):
        assert call.headers["If-None-Match"].startswith('"')
    # The check runs changed (our first run is on the commit): read in full.
    assert [
        r.status for r in second if r.route == "/repos/{owner}/{repo}/commits/{ref}/check-runs"
    ] == [200]
    assert seeded.not_modified == 2
    assert len(seeded.calls("POST", r"^/app/installations/\d+/access_tokens$")) == 1


def add_installation(fake, codegen, n: int) -> str:
    """Installation 5000+n with one repository and a writer."""
    name = f"economy-org-{n}/app"
    fake.add_installation(5000 + n, account=name.split("/")[0])
    fake.add_repo(name, installation_id=5000 + n)
    fake.set_file(name, "README.md", "# App\n")
    fake.set_permission(name, WRITER, "write")
    codegen.add_repo(name)
    return name


async def test_many_validations_and_tasks_mint_one_token_per_installation_hour(
    flow_settings, seeded, fake_codegen
):
    names = [REPO] + [add_installation(seeded, fake_codegen, n) for n in range(2)]
    for name in names:
        seeded.set_file(name, ".github/codegen.yml", VALIDATE_ALL)
    number = iter(range(100, 1000))

    async def one_round(bot, *, tasks: bool) -> None:
        """Per installation: a task started (when `tasks`) and two PRs validated."""
        reviewed = []
        for name in names:
            if tasks:
                issue = next(number)
                seeded.add_issue(name, issue, title=f"Task {issue}", body="Export as CSV.")
                fake_codegen.script_run(statuses=["COMPLETE"])
                label = issue_event(seeded, "labeled", name, issue, sender=WRITER, label="codegen")
                assert (await bot.deliver("issues", label))[0] == 202
            for _ in range(2):
                n = next(number)
                pull = seeded.add_pull(name, n, title=f"PR {n}", files=CLEAN_FILES, user=WRITER)
                ci_run_of(seeded, name, pull["head"]["sha"])
                event = pull_request_event(seeded, "opened", name, n, sender=WRITER)
                assert (await bot.deliver("pull_request", event))[0] == 202
                reviewed.append(pull["head"]["sha"])
        for sha in reviewed:
            await wait_until(lambda sha=sha: reviewed_validations(bot, sha, 1))

    async def runs_created(count: int) -> bool:
        created = await bot.runtime.pool.fetchval(
            "SELECT count(*) FROM codegen_requests WHERE agent_run_id IS NOT NULL"
        )
        return created >= count

    def mints() -> Counter[int]:
        calls = seeded.calls("POST", r"^/app/installations/\d+/access_tokens$")
        return Counter(int(r.path.split("/")[3]) for r in calls)

    async with running_bot(flow_settings) as bot:
        github = bot.runtime.github
        # Three rounds within one token's hour (its last minute excepted): 9 tasks
        # (Codegen creates 10 a minute) and 18 validations on 3 installations.
        for minutes in (0, 30, 58):
            seeded.clock = github.clock = lambda minutes=minutes: time.time() + minutes * 60
            await one_round(bot, tasks=True)
        await wait_until(lambda: runs_created(9))
        assert mints() == {INSTALLATION: 1, 5000: 1, 5001: 1}
        assert github.tokens_minted == 3
        # An hour on, the tokens are about to expire: one new token each.
        seeded.clock = github.clock = lambda: time.time() + 60 * 60
        await one_round(bot, tasks=False)
        assert mints() == {INSTALLATION: 2, 5000: 2, 5001: 2}


def ci_run_of(fake, repository: str, sha: str) -> None:
    fake.add_check_run(
        repository, name="tests", head_sha=sha, conclusion="success", app_slug="github-actions"
    )


async def validate_losing_one_answer(flow_settings, seeded, path_regex: str) -> str:
    """A clean PR validated, GitHub's answer to a POST to `path_regex` lost once
    (done, then answered 502); its head."""
    seeded.set_file(REPO, ".github/codegen.yml", VALIDATE_ALL)
    pull = open_pull(seeded, CLEAN_FILES, body="Adds the export.")
    sha = pull["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    seeded.lose_answer_next("POST", path_regex)
    async with running_bot(flow_settings) as bot:
        event = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        await wait_until(lambda: reviewed_validations(bot, sha, 1))
        await bot.wait_idle()
    return sha


async def test_a_check_run_whose_creation_answer_was_lost_is_found_not_made_twice(
    flow_settings, seeded
):
    sha = await validate_losing_one_answer(flow_settings, seeded, r"/check-runs$")
    [run] = our_runs(seeded, sha)  # the second try found the first try's run
    assert run["conclusion"] == "success"
    lookups = seeded.calls("GET", r"/check-runs$")
    assert [c.query.get("check_name") for c in lookups].count("codegen/validation") == 1


async def test_a_review_whose_answer_was_lost_is_found_not_posted_twice(flow_settings, seeded):
    await validate_losing_one_answer(flow_settings, seeded, r"/pulls/\d+/reviews$")
    assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 1
    assert len(seeded.calls("GET", r"/pulls/\d+/reviews$")) == 1  # the retry looked
