"""The `validation.ci_fix` job: CI failures on a task's PR go back to its agent
run, a bounded number of times, flaky checks excepted."""

from __future__ import annotations

import logging

from app import cpu
from app.db import advisory_xact_lock
from app.followups import flow as task_actions
from app.followups import store as followups
from app.pull_requests import store as pull_requests
from app.pull_requests.links import reported_by_agent
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError, RescheduleJob
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import flow as task_flow
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES
from app.validation import ci
from app.validation.keys import CI_FIX_JOB
from prompts.followups import ci_fix_prompt

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@registry.job(CI_FIX_JOB)
async def ci_fix_job(runtime: Runtime, job: Job) -> None:
    """Send the CI failures on a task's PR to its agent run, unless the commit
    moved on, the failure proved flaky, or the attempts are used up."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    sha = job.payload["head_sha"]
    if pr is None or pr.task_id is None or pr.state != "open" or pr.head_sha != sha:
        return
    task = await tasks.get(pool, pr.task_id)
    if task is None or not reported_by_agent(task, pr) or task.status not in PR_STAGES:
        return  # not the agent's PR, or a retry's new run is at work
    gh = await runtime.github.for_installation(pr.installation_id)
    config, _, _ = await load_repo_config(gh, pr.repository, runtime.settings)
    most = config.validation.ci_fix_attempts
    state = await ci.read(gh, pr.repository, sha, await runtime.github.slug())
    failures = state.real_failures
    if state.verdict != "failed" or not failures:
        flaky = [c.name for c in state.checks if c.flaky]
        if flaky:
            log.info("CI failure on %s was flaky (%s): not sent to Codegen", sha[:7], flaky)
            await task_flow.note(
                runtime,
                task.id,
                f"CI on `{sha[:7]}` failed and then passed on a re-run "
                f"({', '.join(ci.code_name(n) for n in flaky[:5])}): flaky, not sent to Codegen.",
                f"ci_fix:{pr.id}:{sha}:flaky",
            )
        return
    key = f"ci_fix:{pr.id}:{sha}"
    names = ", ".join(ci.code_name(c.name) for c in failures[:5])
    # Counting the attempt and recording the follow-up commit together, so a
    # crash between them can neither spend an attempt nor lose the fix.
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, task_actions.followup_lock(task.id))
        current = await tasks.get(conn, task.id)
        if current is None or current.status not in PR_STAGES:
            return  # cancelled (or ended) since: under the lock a cancel takes too
        attempt = None
        if await followups.exists(conn, key):
            attempt = pr.ci_fix_attempts  # sent by a try that died before its note
        busy = await followups.in_flight(conn, task.id) if attempt is None else None
        if busy is not None:
            # The agent is still on earlier instructions: its push may fix this too.
            raise RescheduleJob(task_flow.poll_delay_for(runtime, 1), "agent busy with a follow-up")
        sent = attempt is not None
        if not sent:
            attempt = await pull_requests.count_ci_fix(conn, pr.id, most)
        if attempt is None:
            await pull_requests.update(conn, pr.id, ci_fix_outcome="exhausted")
            await tasks.add_note(
                conn,
                task.id,
                f"CI still fails on `{sha[:7]}` ({names}) after {most} automatic "
                f"fix{'es' * (most != 1)}; stopping. Fix it by hand or comment "
                "`/codegen fix <instructions>`.",
            )
            await task_flow.enqueue_render(conn, task.id, f"{key}:exhausted")
            return
        outcome = sent or await task_actions.add_followup(
            conn,
            task,
            kind="ci_fix",
            key=key,
            instructions=await cpu.run(ci_fix_prompt, failures, sha, attempt, most),
            by="codegen-bot",
            pull_request_id=pr.id,
        )
        if outcome is not True and not outcome.ok:
            raise PermanentJobError(outcome.message)  # rolls the count back
    text = (
        f"CI failed on `{sha[:7]}` ({names}): sent to Codegen, automatic fix {attempt} of {most}."
    )
    await task_flow.note(runtime, task.id, text, key)
