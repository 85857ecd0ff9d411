"""Where and how the agent's PR is opened, end to end against the fakes: the
prompt says base, draft state, branch and title; the PR the agent opened is
checked (a wrong base or a draft is reported), its reviewers are requested
(never its author, a stranger's refusal reported) and its labels added."""

from __future__ import annotations

import dataclasses

from tests.support.api import WRITE_KEY, call, create_pr, task_body
from tests.support.bot import running_bot
from tests.support.commands import FOREVER
from tests.support.events import pull_request_event
from tests.support.flow import (
    CODEGEN_PR,
    ISSUE_BODY,
    PR_NUMBER,
    QUICK,
    READER,
    REPO,
    WRITER,
    labeled_event,
    settle,
    task_status,
    wait_until,
)
from tests.support.validation import (
    CLEAN_FILES,
    note_containing,
    open_pull,
    start_task_with_pr,
    task_row,
)


def _pull(fake):
    return fake.pulls[REPO][PR_NUMBER]


def _reviewers(fake) -> list[str]:
    return [u["login"] for u in _pull(fake)["requested_reviewers"]]


def _labels(fake) -> list[str]:
    return [lb["name"] for lb in fake.issues[REPO][PR_NUMBER]["labels"]]


async def test_a_draft_on_the_wrong_base_is_reported_and_reviewers_wait_until_ready(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(
        REPO,
        ".github/codegen.yml",
        QUICK + "pull_request:\n  base: develop\n  labels: [codegen-pr]\n",
    )
    open_pull(seeded, CLEAN_FILES)  # on `main`, the default branch
    seeded.set_draft(REPO, PR_NUMBER, True)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "not `develop`"))
        await wait_until(lambda: note_containing(bot, "Added the labels `codegen-pr`"))
        row = await task_row(bot)
        assert _reviewers(seeded) == []  # a draft: nobody is asked yet
        assert _labels(seeded) == ["codegen-pr"]
        # Marked ready: the person who asked is requested now.
        event = pull_request_event(seeded, "ready_for_review", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", event))[0] == 202
        await wait_until(lambda: _reviewers(seeded) == [WRITER] or None)
        await wait_until(lambda: note_containing(bot, f"Requested reviews on #8 from `{WRITER}`"))
        final = await task_row(bot)
    prompt = fake_codegen.created[0]["prompt"]
    assert "Open the pull request against `develop`." in prompt
    # the delivery rules agree: one PR, against the base asked for
    assert "against the `develop` branch" in prompt and "against the `main`" not in prompt
    assert "Open it ready for review (not as a draft)." in prompt
    assert "branch named `codegen/7-export-the-table-as-csv`" in prompt
    assert "<pull_request_title>\nExport the table as CSV\n</pull_request_title>" in prompt
    notes = "\n".join(row["notes"])
    assert "#8 was opened against `main`, not `develop`" in notes
    assert "#8 was opened as a draft" in notes
    assert "reviewers are requested once it is marked ready" in notes
    text = [c for c in seeded.comments_on(REPO, 7) if "codegen-bot:task:" in c["body"]]
    assert text and "opened against `main`" in text[0]["body"]
    assert sum("opened against" in n for n in final["notes"]) == 1  # said once


async def test_what_a_maintainer_took_off_is_not_put_back_at_a_later_ready(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Labels are added on the first look only and reviewers asked at one ready:
    a PR made a draft and ready again at a new head keeps the maintainer's choice."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK + "pull_request:\n  labels: [codegen-pr]\n")
    open_pull(seeded, CLEAN_FILES)
    seeded.set_draft(REPO, PR_NUMBER, True)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "Added the labels `codegen-pr`"))
        ready = pull_request_event(seeded, "ready_for_review", REPO, PR_NUMBER, sender=WRITER)
        assert (await bot.deliver("pull_request", ready))[0] == 202
        await wait_until(lambda: _reviewers(seeded) == [WRITER] or None)
        # A maintainer takes the label and the review request off, then the PR goes
        # back to draft, gets a new head and is marked ready again.
        seeded.issues[REPO][PR_NUMBER]["labels"] = []
        row = await _reviewers_off_then_ready_again(bot, seeded)
    assert _labels(seeded) == [] and _reviewers(seeded) == []
    notes = "\n".join(row["notes"])
    assert notes.count("Added the labels") == 1 and notes.count("Requested reviews") == 1


async def _reviewers_off_then_ready_again(bot, seeded) -> dict:
    """A maintainer takes the review requests off, the PR goes back to draft,
    gets a new head and is marked ready again; the task's row once that settled."""
    _pull(seeded)["requested_reviewers"] = []
    seeded.set_draft(REPO, PR_NUMBER, True)
    seeded.push(REPO, PR_NUMBER, CLEAN_FILES)
    seeded.set_draft(REPO, PR_NUMBER, False)
    again = pull_request_event(seeded, "ready_for_review", REPO, PR_NUMBER, sender=WRITER)
    assert (await bot.deliver("pull_request", again))[0] == 202
    await settle(bot)
    return await task_row(bot)


async def test_reviewers_asked_when_linked_are_not_asked_again_at_a_later_ready(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A PR opened ready has its reviewers asked when it is linked; made a draft
    and ready again, it keeps the maintainer's choice as one opened as a draft
    does: reviewers are asked once per PR, at link or at the first ready."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    open_pull(seeded, CLEAN_FILES)  # ready for review from the start
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: _reviewers(seeded) == [WRITER] or None)
        await wait_until(lambda: note_containing(bot, "Requested reviews"))
        row = await _reviewers_off_then_ready_again(bot, seeded)
    assert _reviewers(seeded) == []
    assert "\n".join(row["notes"]).count("Requested reviews") == 1


async def test_reviewers_are_requested_never_the_author_and_a_refusal_is_noted(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(
        REPO,
        ".github/codegen.yml",
        QUICK
        + "pull_request:\n"
        + "  reviewers: [maintainer-mia, stranger-sam, codegen-agent, octo-org/core]\n",
    )
    seeded.add_team(REPO, "core")
    open_pull(seeded, CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "Could not request a review"))
        await wait_until(lambda: note_containing(bot, "Requested reviews on #8"))
        row = await task_row(bot)
    assert _reviewers(seeded) == ["maintainer-mia"]
    assert [t["slug"] for t in _pull(seeded)["requested_teams"]] == ["core"]
    notes = "\n".join(row["notes"])
    assert "Requested reviews on #8 from `maintainer-mia`, team `core`." in notes
    assert "from `stranger-sam`: GitHub said" in notes and "collaborators" in notes
    assert "codegen-agent" not in notes  # the PR's author is never asked (GitHub says 422)
    assert "opened against" not in notes and "draft" not in notes  # as asked


async def test_the_issue_form_and_labels_choose_base_and_draft(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.add_issue(
        REPO,
        7,
        title="Export the table as CSV",
        body=ISSUE_BODY + "\n### Base branch\n\nrelease/2.0\n\n### Branch name\n\nfeat/csv\n",
        user="reporter-rae",
        labels=["codegen:draft"],
    )
    async with running_bot(flow_settings) as bot:
        status, _ = await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        assert status == 202
        await wait_until(lambda: fake_codegen.created or None)
    prompt = fake_codegen.created[0]["prompt"]
    assert "Open the pull request against `release/2.0`." in prompt
    assert "Open it as a draft." in prompt
    assert "branch named `feat/csv`" in prompt
    assert "against the `release/2.0` branch" in prompt  # the delivery rules agree
    assert "Base branch" not in prompt and "feat/csv" not in prompt.split("## Pull request")[0]


async def test_api_options_choose_the_placement_and_the_pr_is_checked_against_them(
    flow_settings, seeded, fake_codegen
):
    settings = dataclasses.replace(flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}",))
    seeded.set_file(REPO, ".github/codegen.yml", QUICK + "pull_request:\n  labels: [codegen]\n")
    open_pull(seeded, CLEAN_FILES)  # ready, on `main`
    fake_codegen.script_run(statuses=["COMPLETE"], pull_requests=[CODEGEN_PR])
    options = {
        "base": "develop",
        "draft": True,
        "reviewers": ["maintainer-mia"],
        "labels": ["from-api"],
        "prTitle": "Export JSON",
    }
    async with running_bot(settings) as bot:
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body(issue_number=7))
        assert status == 201, task
        for bad in ({"reviewers": ["not a login"]}, {"labels": ["two\nlines"]}, {"base": "-x"}):
            status, error, _ = await call(
                bot,
                "POST",
                "/api/v1/codegen/create-pr",
                json={"task_id": task["id"], "options": bad},
            )
            assert status == 422 and error["details"][0]["field"].startswith("options."), error
        await create_pr(bot, task["id"], options=options)
        await wait_until(lambda: note_containing(bot, "not as the draft asked for"))
        await wait_until(lambda: note_containing(bot, "Added the labels"))
        row = await task_row(bot)
    prompt = fake_codegen.created[0]["prompt"]
    assert "Open the pull request against `develop`." in prompt
    assert "Open it as a draft." in prompt
    assert "<pull_request_title>\nExport JSON\n</pull_request_title>" in prompt
    notes = "\n".join(row["notes"])
    assert "#8 was opened against `main`, not `develop`" in notes
    assert "Added the labels `codegen`, `from-api` to #8." in notes
    # ready (though a draft was asked): its reviewers are asked now
    assert "Requested reviews on #8 from `maintainer-mia`." in notes
    assert _reviewers(seeded) == ["maintainer-mia"]


def _edited(seeded, example_payload, sender: str, body: str) -> dict:
    seeded.issues[REPO][7]["body"] = body
    event = labeled_event(seeded, example_payload, sender)
    event["action"] = "edited"
    event.pop("label")
    event["changes"] = {"body": {"from": ""}}
    return event


async def test_only_an_edit_by_someone_permitted_changes_the_issues_choices(
    flow_settings, seeded, fake_codegen, example_payload
):
    """The issue's choices are read with its text: a reader's edit of a waiting
    task changes neither; a writer's edit takes both."""
    fake_codegen.script_run(statuses=FOREVER)
    seeded.issues[REPO][7].update(body="", title="csv")
    async with running_bot(flow_settings) as bot:
        status, _ = await bot.deliver("issues", labeled_event(seeded, example_payload, WRITER))
        assert status == 202
        task = await wait_until(lambda: task_status(bot, "needs_info"))
        await bot.wait_idle()
        hostile = ISSUE_BODY + "\n### Base branch\n\nevil\n\n### Pull request labels\n\ndeploy\n"
        event = _edited(seeded, example_payload, READER, hostile)
        assert (await bot.deliver("issues", event))[0] == 202
        await settle(bot)
        fields = await bot.runtime.pool.fetchval(
            "SELECT pr_fields::text FROM tasks WHERE id = $1", task["id"]
        )
        assert fields == "{}" and fake_codegen.created == []
        wanted = ISSUE_BODY + "\n### Base branch\n\nrelease/2.0\n"
        event = _edited(seeded, example_payload, WRITER, wanted)
        assert (await bot.deliver("issues", event))[0] == 202
        await wait_until(lambda: fake_codegen.created or None)
    prompt = fake_codegen.created[0]["prompt"]
    assert "Open the pull request against `release/2.0`." in prompt
    assert "evil" not in prompt and "deploy" not in prompt


def _outside_code(text: str) -> str:
    """Markdown outside its inline code spans: where `@login` notifies."""
    return "".join(text.split("`")[::2])


async def test_a_backtick_in_an_issues_base_or_label_pings_nobody(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Git takes a backtick in a branch name and GitHub in a label: the notes
    that name them must not let it end their code span and turn the rest into
    a mention of someone the issue's author chose."""
    body = (
        ISSUE_BODY
        + "\n### Base branch\n\nrel`@stranger-sam`\n"
        + "\n### Pull request labels\n\nx`@stranger-sam`\n"
    )
    seeded.issues[REPO][7]["body"] = body
    # Its own author starts it, so the issue's labels count (see below).
    seeded.issues[REPO][7]["user"] = {**seeded.issues[REPO][7]["user"], "login": WRITER}
    open_pull(seeded, CLEAN_FILES)  # on `main`: not the base asked for
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "base branch") or None)
        await wait_until(lambda: note_containing(bot, "the labels") or None)
        await wait_until(lambda: _tracking(seeded, "the labels"))
        row = await task_row(bot)
    notes = "\n".join(row["notes"])
    assert "@" not in _outside_code(notes), notes
    body = _tracking(seeded, "the labels")
    assert "@stranger-sam" not in _outside_code(body), body


def _tracking(seeded, text: str) -> str | None:
    """The task's tracking comment once it holds `text`."""
    for comment in seeded.comments_on(REPO, 7):
        if "codegen-bot:task:" in comment["body"] and text in comment["body"]:
            return comment["body"]
    return None


async def test_the_api_refuses_a_base_or_branch_name_git_refuses(
    flow_settings, seeded, fake_codegen
):
    """A base or branch the bot would not use is the caller's mistake, answered
    422; accepted, the PR would go to the default branch instead, said only in
    the tracking comment."""
    settings = dataclasses.replace(flow_settings, api_keys=(f"ci-runner:write:{WRITE_KEY}",))
    async with running_bot(settings) as bot:
        status, task, _ = await call(bot, "POST", "/api/v1/tasks", json=task_body(issue_number=7))
        assert status == 201, task
        for bad in (
            {"base": "release..1"},
            {"base": "x.lock"},
            {"base": "x/"},
            {"base": "x/.y"},
            {"branchName": "feat/x."},
            {"branchName": "a//b"},
        ):
            status, error, _ = await call(
                bot,
                "POST",
                "/api/v1/codegen/create-pr",
                json={"task_id": task["id"], "options": bad},
            )
            assert status == 422, (bad, error)
            assert error["details"][0]["field"].startswith("options."), error
    assert fake_codegen.created == []


async def test_a_team_of_another_organisation_is_not_asked_by_its_slug_alone(
    flow_settings, seeded, fake_codegen, example_payload
):
    """GitHub's `team_reviewers` are slugs of the repository owner's teams: a
    team named `other-org/core` sent as `core` would ask octo-org's own `core`
    team, people nobody named. It is left out and said so."""
    seeded.set_file(
        REPO,
        ".github/codegen.yml",
        QUICK + "pull_request:\n  reviewers: [maintainer-mia, other-org/core]\n",
    )
    seeded.add_team(REPO, "core")  # octo-org's `core`: not the team asked for
    open_pull(seeded, CLEAN_FILES)
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "Requested reviews on #8"))
        row = await task_row(bot)
    assert _reviewers(seeded) == ["maintainer-mia"]
    assert _pull(seeded)["requested_teams"] == []
    notes = "\n".join(row["notes"])
    assert "other-org/core" in notes  # said why it was not asked


async def test_a_readers_issue_chooses_no_reviewers_or_labels(
    flow_settings, seeded, fake_codegen, example_payload
):
    """Reviewers and labels ping people and make labels: named in an issue a
    reader wrote (in a collapsed section, say) and started by a writer
    who may not have seen them, they are not used, and the tracking comment
    says so; the issue's base branch still counts."""
    body = ISSUE_BODY + (
        "\n### Base branch\n\nrelease/2.0\n\n"
        "### Reviewers\n\nstranger-sam\n\n### Pull request labels\n\ndeploy\n"
    )
    seeded.issues[REPO][7]["body"] = body
    seeded.issues[REPO][7]["user"] = {**seeded.issues[REPO][7]["user"], "login": READER}
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    pull = open_pull(seeded, CLEAN_FILES)
    pull["base"]["ref"] = "release/2.0"
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: note_containing(bot, "reviewers and labels are not used") or None)
        await wait_until(lambda: note_containing(bot, "Requested reviews on #8"))
        row = await task_row(bot)
    prompt = fake_codegen.created[0]["prompt"]
    assert "Open the pull request against `release/2.0`." in prompt
    assert "stranger-sam" not in _reviewers(seeded)
    assert "deploy" not in _labels(seeded)
    assert WRITER in _reviewers(seeded)  # the default: the person who asked
    assert any("reviewers and labels are not used" in n for n in row["notes"])
