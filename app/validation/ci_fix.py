"""The `validation.ci_fix` job: CI failures on a task's PR go back to its agent
run, a bounded number of times, flaky checks excepted.

`decide` is the whole decision, pure: given the CI state and what the database
says (attempts made, a fix already recorded, the agent busy), it returns what
to do; the job gathers those facts under the task's follow-up lock, then
persists the decision and calls out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app import cpu
from app.db import advisory_xact_lock
from app.followups import flow as task_actions
from app.followups import store as followups
from app.observability import metrics
from app.pull_requests import store as pull_requests
from app.pull_requests.links import reported_by_agent
from app.pull_requests.status import CiFixOutcome, PullRequestState
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.queue.worker import PermanentJobError, RescheduleJob
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import schedule as task_flow
from app.tasks import store as tasks
from app.tasks.status import PR_STAGES
from app.validation import ci
from app.validation.ci import Check, CiState
from app.validation.keys import CI_FIX_JOB
from prompts.followups import ci_fix_prompt

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service


@dataclass(frozen=True)
class Nothing:
    """CI does not fail (any more) on the commit, and nothing was flaky."""


@dataclass(frozen=True)
class Flaky:
    """CI failed and then passed on a re-run: say so, send nothing."""

    checks: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class AgentBusy:
    """The agent is still on earlier instructions: its push may fix this too."""


@dataclass(frozen=True)
class AlreadySent:
    """A try that died before its note recorded this fix: only the note is left."""

    note: str


@dataclass(frozen=True)
class GiveUp:
    """The automatic fixes are used up: stop, and say why."""

    note: str


@dataclass(frozen=True)
class SendFix:
    """Send these instructions as automatic fix `attempt`, then say so."""

    attempt: int
    instructions: str
    note: str


Decision = Nothing | Flaky | AgentBusy | AlreadySent | GiveUp | SendFix


def decide(
    state: CiState, sha: str, *, attempts: int, most: int, already_sent: bool, agent_busy: bool
) -> Decision:
    """What the job does about CI on commit `sha` of the agent's PR, `attempts`
    automatic fixes having been counted of the `most` allowed."""
    failures = state.real_failures
    if state.verdict != "failed" or not failures:
        flaky = [c.name for c in state.checks if c.flaky]
        if not flaky:
            return Nothing()
        return Flaky(
            tuple(flaky),
            f"CI on `{sha[:7]}` failed and then passed on a re-run "
            f"({', '.join(ci.code_name(n) for n in flaky[:5])}): flaky, not sent to Codegen.",
        )
    if already_sent:
        return AlreadySent(_sent_note(failures, sha, attempts, most))
    if agent_busy:
        return AgentBusy()
    if attempts >= most:
        return GiveUp(
            f"CI still fails on `{sha[:7]}` ({_names(failures)}) after {most} automatic "
            f"fix{'es' * (most != 1)}; stopping. Fix it by hand or comment "
            "`/codegen fix <instructions>`."
        )
    attempt = attempts + 1
    return SendFix(
        attempt,
        ci_fix_prompt(failures, sha, attempt, most),
        _sent_note(failures, sha, attempt, most),
    )


def _names(failures: list[Check]) -> str:
    return ", ".join(ci.code_name(c.name) for c in failures[:5])


def _sent_note(failures: list[Check], sha: str, attempt: int, most: int) -> str:
    return (
        f"CI failed on `{sha[:7]}` ({_names(failures)}): sent to Codegen, "
        f"automatic fix {attempt} of {most}."
    )


@registry.job(CI_FIX_JOB)
async def ci_fix_job(runtime: Runtime, job: Job) -> None:
    """Send the CI failures on a task's PR to its agent run, unless the commit
    moved on, the failure proved flaky, or the attempts are used up."""
    pool = runtime.pool
    pr = await pull_requests.get(pool, job.payload["pull_request_id"])
    sha = job.payload["head_sha"]
    if pr is None or pr.task_id is None or pr.state != PullRequestState.OPEN or pr.head_sha != sha:
        return
    task = await tasks.get(pool, pr.task_id)
    if task is None or not reported_by_agent(task, pr) or task.status not in PR_STAGES:
        return  # not the agent's PR, or a retry's new run is at work
    gh = await runtime.github.for_installation(pr.installation_id)
    config, _, _ = await load_repo_config(gh, pr.repository, runtime.settings)
    most = config.validation.ci_fix_attempts
    state = await ci.read(gh, pr.repository, sha, await runtime.github.slug())
    key = f"ci_fix:{pr.id}:{sha}"
    # Off the event loop and before the lock: the prompt redacts and cuts CI
    # output of any size, and a task's lock must not wait for a CPU worker. It
    # is decided again under the lock only if what it rests on moved meanwhile.
    inputs = (pr.ci_fix_attempts, False, False)
    likely = await cpu.run(
        decide, state, sha, attempts=inputs[0], most=most, already_sent=False, agent_busy=False
    )
    # Counting the attempt and recording the follow-up commit together, so a
    # crash between them can neither spend an attempt nor lose the fix.
    async with pool.acquire() as conn, conn.transaction():
        await advisory_xact_lock(conn, task_actions.followup_lock(task.id))
        current = await tasks.get(conn, task.id)
        fresh = await pull_requests.get(conn, pr.id)
        if current is None or current.status not in PR_STAGES or fresh is None:
            return  # cancelled (or ended) since: under the lock a cancel takes too
        already_sent = await followups.exists(conn, key)
        busy = not already_sent and await followups.in_flight(conn, task.id) is not None
        if (fresh.ci_fix_attempts, already_sent, busy) == inputs:
            decision = likely
        else:  # rare: the count or the follow-ups moved while CI was read
            decision = await cpu.run(
                decide,
                state,
                sha,
                attempts=fresh.ci_fix_attempts,
                most=most,
                already_sent=already_sent,
                agent_busy=busy,
            )
        if isinstance(decision, AgentBusy):
            raise RescheduleJob(task_flow.poll_delay_for(runtime, 1), "agent busy with a follow-up")
        if isinstance(decision, GiveUp):
            await pull_requests.update(conn, pr.id, ci_fix_outcome=CiFixOutcome.EXHAUSTED)
            metrics.CI_FIX_OUTCOMES.labels(outcome=str(CiFixOutcome.EXHAUSTED)).inc()
            await tasks.add_note(conn, task.id, decision.note)
            await task_flow.enqueue_render(conn, task.id, f"{key}:exhausted")
            return
        if isinstance(decision, SendFix):
            counted = await pull_requests.count_ci_fix(conn, pr.id, most)
            assert counted == decision.attempt, (counted, decision.attempt)  # under the lock
            outcome = await task_actions.add_followup(
                conn,
                task,
                kind="ci_fix",
                key=key,
                instructions=decision.instructions,
                by="codegen-bot",
                pull_request_id=pr.id,
            )
            if not outcome.ok:
                raise PermanentJobError(outcome.message)  # rolls the count back
    if isinstance(decision, Flaky):
        log.info("CI failure on %s was flaky (%s): not sent to Codegen", sha[:7], decision.checks)
        await task_flow.note(runtime, task.id, decision.note, f"{key}:flaky")
    elif isinstance(decision, SendFix | AlreadySent):
        await task_flow.note(runtime, task.id, decision.note, key)
