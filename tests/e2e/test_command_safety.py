"""`/codegen` commands under crashes and with secrets in the diff: each test is
a defect a review found, kept so it stays fixed. Real PostgreSQL, the bot's real
server and worker, fake GitHub and Codegen; crashes injected inside PostgreSQL."""

from __future__ import annotations

from tests.support.bot import running_bot
from tests.support.events import issue_comment_event, review_comment_event
from tests.support.flow import REPO, WRITER, fail_once, settle, wait_until
from tests.support.validation import (
    CLEAN_FILES,
    PR_NUMBER,
    QUICK,
    open_pull,
    our_runs,
    start_task_with_pr,
    validation_row,
)
from tests.support.validation import (
    task_in as _task_in,
)

SECRET = "sk_live_A1b2C3d4E5f6G7h8I9j0K1l2M3"
SECRET_FILE = {
    "filename": "billing.py",
    "status": "modified",
    "patch": f'@@ -1,1 +1,2 @@\n import os\n+STRIPE = "{SECRET}"',
}


async def test_fix_on_a_line_with_a_credential_keeps_it_out_of_the_prompt(
    flow_settings, seeded, fake_codegen, example_payload
):
    """`/codegen fix` in a review comment sends the diff hunk along: a credential
    in it is redacted, as everywhere else."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, [SECRET_FILE])["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: validation_row(bot, sha))
        await wait_until(lambda: _task_in(bot, "changes_requested"))
        await bot.wait_idle()
        fake_codegen.script_resume(statuses=["COMPLETE"])
        inline = review_comment_event(
            seeded,
            "created",
            REPO,
            PR_NUMBER,
            "/codegen fix read this key from the environment",
            user=WRITER,
            path="billing.py",
            line=2,
        )
        assert SECRET in inline["comment"]["diff_hunk"]
        await bot.deliver("pull_request_review_comment", inline)
        await wait_until(lambda: len(fake_codegen.resumed) == 1 or None)
        await settle(bot)
    prompt = fake_codegen.resumed[0]["prompt"]
    assert SECRET not in prompt, "the credential from the diff was sent to Codegen"


async def test_validate_retried_after_a_crash_makes_one_check_run(
    flow_settings, seeded, fake_codegen, example_payload
):
    """A delivery job that dies after `/codegen validate` acted and before the
    command was recorded finished: its retry does not validate a second time."""
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    sha = open_pull(seeded, CLEAN_FILES)["head"]["sha"]
    async with running_bot(flow_settings) as bot:
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: validation_row(bot, sha))
        await wait_until(lambda: _task_in(bot, "passed"))
        await bot.wait_idle()
        await fail_once(bot.runtime.pool, "commands", "UPDATE", "NEW.status = 'done'")
        payload = issue_comment_event(
            seeded, "created", REPO, PR_NUMBER, "/codegen validate", user=WRITER
        )
        await bot.deliver("issue_comment", payload)
        await wait_until(
            lambda: bot.runtime.pool.fetchval(
                "SELECT status = 'done' FROM commands WHERE verb = 'validate'"
            )
        )
        await settle(bot)
        generations = await bot.runtime.pool.fetchval("SELECT count(*) FROM validations")
        attempts = await bot.runtime.pool.fetchval(
            "SELECT attempts FROM jobs WHERE kind = 'delivery' ORDER BY id DESC LIMIT 1"
        )
    assert attempts == 2  # the crash happened and the delivery was retried
    assert generations == 2  # the first validation and one for the command
    assert len(our_runs(seeded, sha)) == 2
