"""The organisation's `.github` defaults, usually absent: GitHub's 404 carries no
ETag, so the bot keeps the absence (as it keeps a file it read) until an event
that can change it arrives, and the next validation after that event uses the
defaults. Each event end to end: the signed delivery, the bot's real server and
worker, real PostgreSQL and the fake GitHub, whose request log counts the reads
of the `.github` repository."""

from __future__ import annotations

import pytest

from tests.support.bot import running_bot
from tests.support.events import check_run_event, pull_request_event
from tests.support.flow import INSTALLATION, PR_NUMBER, REPO, WRITER, wait_until
from tests.support.validation import ci_run, open_pull, our_runs

ORG = "octo-org/.github"
OTHER_INSTALLATION = 5151  # another installation of the App on the same account
# The repository's own file names no `validation:` section, so the
# organisation's (no review, only the check run) applies once it is read.
OWN = "validate: all\nci_fix:\n  max_attempts: 0\n"
DEFAULTS = "validation:\n  review: false\n"
FILES = [
    {
        "filename": "widgets/export.py",
        "status": "modified",
        "patch": "@@ -1,2 +1,3 @@\n import csv\n+ROWS = 10\n def export():",
    }
]


def org_reads(fake, since: int = 0) -> list[int]:
    """Statuses of the reads of the organisation's defaults."""
    return [
        r.status
        for r in fake.requests[since:]
        if r.method == "GET" and r.path.startswith(f"/repos/{ORG}/contents/")
    ]


async def _ge(bot, sql: str, sha: str, n: int) -> bool:
    return await bot.runtime.pool.fetchval(sql, sha) >= n


async def rerun(bot, fake, sha: str, generation: int) -> None:
    """A writer clicks Re-run: the head validated again."""
    latest = max(our_runs(fake, sha), key=lambda r: r["id"])
    event = check_run_event(fake, "rerequested", REPO, latest["id"], sender=WRITER)
    assert (await bot.deliver("check_run", event))[0] == 202
    await wait_until(lambda: _ge(bot, _COMPLETED, sha, generation))
    await bot.wait_idle()


_COMPLETED = "SELECT count(*) FROM validations WHERE head_sha = $1 AND status = 'completed'"


def move_into_installation(fake, full_name: str, installation_id: int) -> None:
    """The account's owner adds the repository to the App's installation."""
    fake.installation_repos[fake.installation_of(full_name)].discard(full_name)
    fake._repo_installation[full_name] = installation_id
    fake.installation_repos.setdefault(installation_id, set()).add(full_name)


def installation(example_payload) -> dict:
    inst = example_payload("installation", "created")["installation"]
    inst["id"] = INSTALLATION
    inst["account"] = {**inst["account"], "login": "octo-org", "type": "Organization"}
    return inst


def created(fake, example_payload) -> tuple[str, dict]:
    """The organisation creates its `.github` repository, with the defaults."""
    fake.add_repo(ORG, installation_id=INSTALLATION)
    fake.set_file(ORG, ".github/codegen.yml", DEFAULTS)
    payload = example_payload("repository", "created")
    payload["repository"] = dict(fake.repos[ORG])
    payload["installation"] = {"id": INSTALLATION}
    payload.pop("organization", None)
    return "repository", payload


def added(fake, example_payload) -> tuple[str, dict]:
    """The `.github` repository (outside the installation: a 404) is added to it."""
    move_into_installation(fake, ORG, INSTALLATION)
    payload = example_payload("installation_repositories", "added")
    payload["installation"] = installation(example_payload)
    repo = fake.repos[ORG]
    payload["repositories_added"] = [
        {k: repo[k] for k in ("id", "node_id", "name", "full_name", "private")}
    ]
    payload["repositories_removed"] = []
    return "installation_repositories", payload


def permissions(fake, example_payload) -> tuple[str, dict]:
    """The installation's new permissions accepted (the App reaches the file now)."""
    move_into_installation(fake, ORG, INSTALLATION)
    payload = example_payload("installation", "new_permissions_accepted")
    payload["installation"] = installation(example_payload)
    payload["repositories"] = [
        {k: fake.repos[n][k] for k in ("id", "node_id", "name", "full_name", "private")}
        for n in (REPO, ORG)
    ]
    return "installation", payload


def pushed(fake, example_payload, ref: str = "refs/heads/main") -> tuple[str, dict]:
    """A push to the `.github` repository's default branch adds the file."""
    fake.set_file(ORG, ".github/codegen.yml", DEFAULTS)
    payload = example_payload("push")
    payload["ref"] = ref
    payload["repository"] = dict(fake.repos[ORG])
    payload["installation"] = {"id": INSTALLATION}
    payload.pop("organization", None)
    return "push", payload


@pytest.mark.parametrize("change", [created, added, permissions, pushed])
async def test_the_organisations_absent_defaults_are_kept_until_an_event_can_change_them(
    flow_settings, seeded, example_payload, change
):
    seeded.set_file(REPO, ".github/codegen.yml", OWN)
    if change in (added, permissions):
        seeded.add_repo(ORG, installation_id=OTHER_INSTALLATION)
        seeded.set_file(ORG, ".github/codegen.yml", DEFAULTS)
    elif change is pushed:
        seeded.add_repo(ORG, installation_id=INSTALLATION)  # no settings file yet
    sha = open_pull(seeded, FILES)["head"]["sha"]
    ci_run(seeded, sha, "tests", "success")
    async with running_bot(flow_settings) as bot:
        opened = pull_request_event(seeded, "opened", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", opened))[0] == 202
        await wait_until(lambda: _ge(bot, _COMPLETED, sha, 1))
        await bot.wait_idle()
        assert org_reads(seeded) == [404]
        assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 1

        # The absence is kept: a second validation does not ask again.
        await rerun(bot, seeded, sha, 2)
        assert org_reads(seeded) == [404]
        assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 2

        event, payload = change(seeded, example_payload)
        if change is pushed:
            # A push to another branch changes nothing the bot reads.
            _, elsewhere = pushed(seeded, example_payload, ref="refs/heads/feature")
            # (dropped at the intake: tests/e2e/test_push_intake.py)
            assert (await bot.deliver("push", elsewhere))[0] == 200
            await bot.wait_idle()
            await rerun(bot, seeded, sha, 3)
            assert org_reads(seeded) == [404]
            assert len(seeded.reviews_on(REPO, PR_NUMBER)) == 3
        reviews = len(seeded.reviews_on(REPO, PR_NUMBER))
        assert (await bot.deliver(event, payload))[0] == 202
        await bot.wait_idle()
        done = await bot.runtime.pool.fetchval(_COMPLETED, sha)
        await rerun(bot, seeded, sha, done + 1)

    # Read again, found, and used: the organisation turned reviews off.
    assert org_reads(seeded) == [404, 200]
    assert len(seeded.reviews_on(REPO, PR_NUMBER)) == reviews
    runs = sorted(our_runs(seeded, sha), key=lambda r: r["id"])
    assert runs[-1]["status"] == "completed"
    assert {r["conclusion"] for r in runs} == {runs[0]["conclusion"]}  # only the review went
