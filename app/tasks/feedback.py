"""The tracking comment and the 👀 reaction, written off the workflow's path.

Writes to one installation are serial and spaced (app/limits/writes.py), so a
workflow step that waited for its comment edit would wait for every write
queued before it. Instead each process keeps, per task, at most one render in
flight and one wanted after it (the task's "slot"): a render asked for while
another waits for its turn joins it, and the text is read from the database
only once the turn is held, so a state superseded before its write is never
written and the newest one always is. The reaction and a new task's first post
go before edits of older tasks (`WritePriority`). An edit that would write the
text already there is not sent.

Durability stays the queue's: every render is asked for by a `task.render` job
enqueued in the transaction that changed the task. The job hands the render to
the slot and waits briefly; if the write is not done by then, it gives its
worker slot back (`RescheduleJob`) and, when it runs again in this process,
finds its write done. A crash loses the slot, never the job, which runs again
and renders what the database holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cachetools

from app.budgets import admission
from app.followups import store as followups
from app.github import comments, urls
from app.github.client import GitHubApp, GitHubClient
from app.limits import writes
from app.limits.writes import WritePriority
from app.queue.store import Job
from app.queue.worker import PermanentJobError, RescheduleJob
from app.repo_settings.config import load_repo_config
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks import tracking
from app.tasks.status import TaskStatus
from app.validation import store as validations

log = logging.getLogger(__name__)

HOLD_SECONDS = 0.5  # how long a caller waits for its write before leaving it to the slot
# A write queued behind more than this is not waited for at all: a worker slot
# held for it would be a slot the next task's agent run waits for.
QUEUED_SECONDS = 0.05
LOCK_RETRY_SECONDS = 0.05  # the issue's comment lock was busy: ask for the turn again
MOST_RESCHEDULE_SECONDS = 30.0
# A new task's comment, once its 👀 is there, waits this long for the agent run
# (made in a few hundred ms) so that it is posted showing it: one edit fewer.
POST_GRACE_SECONDS = 2.0
NOT_POSTED_YET = (TaskStatus.QUEUED, TaskStatus.GENERATING_PROMPT)


def tracking_key(task_id: int) -> str:
    return f"task:{task_id}"


@dataclass(eq=False)
class _Slot:
    """One task's renders in this process."""

    installation_id: int
    wanted: int = 0  # renders asked for so far
    covered: int = 0  # of them, those the last read of the task answered
    react: bool = False  # the 👀 reaction is wanted
    urgent: bool = False  # a lasting state to show: a new task's post is not put off
    # (request number, its future: None once written, or seconds to ask again in)
    waiters: list[tuple[int, asyncio.Future[float | None]]] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None


class FeedbackLane:
    """A process's task slots, the texts it wrote, and the render jobs waiting."""

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}
        # comment id -> the text last written there by this process
        self.written: cachetools.LRUCache[int, str] = cachetools.LRUCache(maxsize=10_000)
        # render job id -> the write it handed over (found again when it runs again)
        self.tickets: cachetools.TTLCache[int, asyncio.Future[float | None]] = cachetools.TTLCache(
            maxsize=10_000, ttl=3600
        )
        # render jobs, and tasks, whose 👀 is made here: not asked for again
        self.reacted: cachetools.TTLCache[int, bool] = cachetools.TTLCache(maxsize=10_000, ttl=3600)
        self.reacted_tasks: cachetools.TTLCache[int, bool] = cachetools.TTLCache(
            maxsize=10_000, ttl=3600
        )

    def request(
        self,
        runtime: Runtime,
        task_id: int,
        installation_id: int,
        *,
        react: bool = False,
        urgent: bool = False,
    ) -> asyncio.Future[float | None]:
        """Ask for the task's comment to be made current (and the reaction added);
        the future is done once a write that read the task after now is made
        (None), or when a new task's post was put off (seconds to ask again in).
        `urgent`: the state lasts (waiting for budget), post it without delay."""
        slot = self._slots.get(task_id)
        if slot is None:
            slot = self._slots[task_id] = _Slot(installation_id)
        slot.wanted += 1
        slot.react = slot.react or react
        slot.urgent = slot.urgent or urgent
        done: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        # A caller that gave up waiting never reads it: no "never retrieved" noise.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        slot.waiters.append((slot.wanted, done))
        if slot.runner is None:
            slot.runner = asyncio.create_task(
                self._run(runtime, task_id, slot), name=f"tracking-comment-{task_id}"
            )
        return done

    async def _run(self, runtime: Runtime, task_id: int, slot: _Slot) -> None:
        try:
            while slot.covered < slot.wanted or slot.react:
                try:
                    later = await self._write(runtime, task_id, slot)
                except Exception as exc:  # the asking jobs retry; the slot moves on
                    log.warning("could not write task %s's tracking comment: %r", task_id, exc)
                    failed, slot.waiters = slot.waiters, []
                    slot.covered, slot.react = slot.wanted, False
                    for _, waiter in failed:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                answered = [w for n, w in slot.waiters if n <= slot.covered]
                slot.waiters = [(n, w) for n, w in slot.waiters if n > slot.covered]
                for waiter in answered:
                    if not waiter.done():
                        waiter.set_result(later)
        finally:
            for _, waiter in slot.waiters:
                if not waiter.done():
                    waiter.set_exception(RuntimeError("the tracking comment's writer stopped"))
            if self._slots.get(task_id) is slot:
                del self._slots[task_id]

    async def _write(self, runtime: Runtime, task_id: int, slot: _Slot) -> float | None:
        """Write what the slot wants; seconds to ask again in if the post was put off."""
        gh = await runtime.github.for_installation(slot.installation_id)
        task = await tasks.get(runtime.pool, task_id)
        if task is None:
            slot.covered, slot.react = slot.wanted, False
            return None
        if slot.react:
            with writes.priority(WritePriority.FIRST):
                await comments.react(gh, urls.issue(task.repository, task.issue_number), "eyes")
            slot.react = False
            self.reacted_tasks[task_id] = True
        later = None
        if not slot.urgent:
            later = post_grace(await tasks.get(runtime.pool, task_id) or task, datetime.now(UTC))
        if later is not None:
            slot.covered = slot.wanted  # the run's render (or the job, later) posts it
            return later
        pacing = runtime.github.write_pacing
        while True:
            task = await tasks.get(runtime.pool, task_id) or task
            level = WritePriority.NEW if task.tracking_comment_id is None else WritePriority.EDIT
            with writes.priority(level):
                async with (
                    _hold(pacing, slot.installation_id),
                    _try_issue_lock(runtime, task) as locked,
                ):
                    if locked:
                        # What is read now answers every render asked for so far.
                        slot.covered = slot.wanted
                        await write_tracking(runtime, gh, task_id, self.written)
                        return None
            await asyncio.sleep(LOCK_RETRY_SECONDS)

    def patience(self, runtime: Runtime, installation_id: int) -> float:
        """How long a caller may wait for a write asked for now: `HOLD_SECONDS`
        when the installation has nothing queued, else nothing."""
        backlog = runtime.github.write_pacing.backlog(installation_id)
        return HOLD_SECONDS if backlog <= QUEUED_SECONDS else 0.0

    def eta(self, runtime: Runtime, installation_id: int) -> float:
        """When a job whose write is still queued should look again."""
        backlog = runtime.github.write_pacing.backlog(installation_id)
        return max(HOLD_SECONDS, min(MOST_RESCHEDULE_SECONDS, backlog))


_lanes: weakref.WeakKeyDictionary[GitHubApp, FeedbackLane] = weakref.WeakKeyDictionary()


def post_grace(task: tasks.Task, now: datetime) -> float | None:
    """Seconds a new task's first post waits for its agent run, or None: post now."""
    if task.tracking_comment_id is not None or task.status not in NOT_POSTED_YET:
        return None
    left = POST_GRACE_SECONDS - (now - task.created_at).total_seconds()
    return left if left > 0 else None


def lane_of(runtime: Runtime) -> FeedbackLane:
    """The runtime's lane (one per App client, i.e. per process and runtime)."""
    lane = _lanes.get(runtime.github)
    if lane is None:
        lane = _lanes[runtime.github] = FeedbackLane()
    return lane


@contextlib.asynccontextmanager
async def _hold(pacing: object, installation_id: int) -> AsyncIterator[None]:
    """The installation's write turn across the read and the write (the shared
    pacing's `hold`); a pacing without one gives each write its own turn."""
    hold = getattr(pacing, "hold", None)
    if hold is None:
        yield
        return
    async with hold(installation_id):
        yield


@contextlib.asynccontextmanager
async def _try_issue_lock(runtime: Runtime, task: tasks.Task) -> AsyncIterator[bool]:
    """The issue's comment lock (`comments.issue_lock`) if free: taken while the
    write turn is held, a writer holding it and waiting for the turn must not be
    waited for, so a busy lock gives the turn back and the slot asks again."""
    key = comments.issue_lock_key(task.repository, task.issue_number)
    async with runtime.pool.acquire() as conn:
        locked = await tasks.try_advisory_lock(conn, key)
        try:
            yield locked
        finally:
            if locked:
                await tasks.advisory_unlock(conn, key)


async def write_tracking(
    runtime: Runtime, gh: GitHubClient, task_id: int, written: cachetools.LRUCache[int, str]
) -> None:
    """Create the tracking comment once, then keep it in step with the task, from
    a fresh read of it. The caller holds the issue's comment lock."""
    current = await tasks.get(runtime.pool, task_id)
    if current is None:
        return
    body = await _body(runtime, gh, current)
    key = tracking_key(current.id)
    if current.tracking_comment_id is not None:
        if written.get(current.tracking_comment_id) == body:
            return  # already says this
        if await comments.edit(gh, current.repository, current.tracking_comment_id, key, body):
            written[current.tracking_comment_id] = body
            return
        # The stored comment was deleted: a new one, showing the current text.
    if current.tracking_comment_id is None and not await tasks.start_comment_post(
        runtime.pool, current.id
    ):
        comment_id = await comments.post(gh, current.repository, current.issue_number, key, body)
    else:
        # A post may have reached GitHub before a crash: find it, or post anew.
        bot = await runtime.github.bot_login()
        found = await comments.find_marked(gh, current.repository, current.issue_number, key, bot)
        if found is None:
            comment_id = await comments.post(
                gh, current.repository, current.issue_number, key, body
            )
        else:
            comment_id = found["id"]
            if found.get("body") != comments.with_marker(key, body):
                await comments.edit(gh, current.repository, comment_id, key, body)
    await tasks.set_comment_id(runtime.pool, current.id, comment_id)
    written[comment_id] = body


async def _body(runtime: Runtime, gh: GitHubClient, current: tasks.Task) -> str:
    attempts = await codegen_requests.for_task(runtime.pool, current.id)
    sent = await followups.for_task(runtime.pool, current.id)
    latest = await validations.latest_for_task(runtime.pool, current.id)
    shown = None
    if latest is not None:
        shown = {
            "sha": latest.head_sha,
            "conclusion": latest.conclusion,
            "title": latest.title or latest.conclusion,
            "url": latest.check_run_url,
        }
    permission, label = "write", None
    # It says who may resume (or start) the task, and with which label.
    if current.status in (TaskStatus.NEEDS_INFO, TaskStatus.CREATED):
        config, _problems, _sha = await load_repo_config(gh, current.repository, runtime.settings)
        permission, label = config.permission, config.trigger_label
    waiting = None
    if current.status == TaskStatus.GENERATING_PROMPT:
        waiting = await admission.waiting_text(
            runtime.pool,
            current.id,
            admission.installation_limits(runtime.settings),
            datetime.now(UTC),
        )
    return tracking.render(current, attempts, sent, shown, permission, waiting, label)


async def show(
    runtime: Runtime, task: tasks.Task, *, wait: float = HOLD_SECONDS, urgent: bool = False
) -> None:
    """Make the task's comment current, waiting at most `wait` seconds for the
    write: the caller enqueued a `task.render` job with the change (durable), so
    a write still queued after that is the job's to see through."""
    lane = lane_of(runtime)
    wait = min(wait, lane.patience(runtime, task.installation_id))
    done = lane.request(runtime, task.id, task.installation_id, urgent=urgent)
    try:
        await asyncio.wait_for(asyncio.shield(done), wait)
    except TimeoutError:
        pass
    except Exception:  # said by the slot; the render job tries again
        log.info("task %s's comment is left to its render job", task.id)


def greet(runtime: Runtime, task: tasks.Task) -> None:
    """A new task's 👀 asked for at once by the job that made it, after its
    commit: the first feedback does not wait for another job to be claimed. The
    render job enqueued with the task sees it made, or makes it after a crash."""
    lane_of(runtime).request(runtime, task.id, task.installation_id, react=True)


async def render_for_job(runtime: Runtime, job: Job) -> None:
    """A `task.render` job: hand the render (and the reaction, if the job asks for
    it) to the task's slot; done once written, else back later without a slot."""
    lane = lane_of(runtime)
    task = await tasks.get(runtime.pool, job.payload["task_id"])
    if task is None:
        raise PermanentJobError(f"task {job.payload['task_id']} does not exist")
    patience = lane.patience(runtime, task.installation_id)
    ticket = lane.tickets.pop(job.id, None)
    if ticket is None:
        react = (
            bool(job.payload.get("react"))
            and job.id not in lane.reacted
            and task.id not in lane.reacted_tasks
        )
        ticket = lane.request(
            runtime, task.id, task.installation_id, react=react, urgent=bool(job.payload.get("now"))
        )
    try:
        later = await asyncio.wait_for(asyncio.shield(ticket), patience)
    except TimeoutError:
        lane.tickets[job.id] = ticket
        raise RescheduleJob(
            lane.eta(runtime, task.installation_id), "the tracking comment waits for its turn"
        ) from None
    if later is not None:  # its post waits for the run; this job sees it made
        lane.reacted[job.id] = True
        raise RescheduleJob(later, "a new task's comment waits briefly for its run")
