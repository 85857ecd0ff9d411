"""What the dashboard's buttons do, through the services the slash commands and
`codegen-bot jobs|deliveries` use (never a second implementation): retry a task
with a strategy, cancel it, validate its PRs again; and, for operators, the
health page with its dead jobs to retry and deliveries to run again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from app.dashboard import health_store
from app.dashboard.access import Viewer, may_act
from app.dashboard.pages import Pages
from app.dashboard.web import SESSION, checked_form, see_other
from app.deliveries import store as deliveries
from app.followups import flow as task_actions
from app.pull_requests import store as pull_requests
from app.queue import store as jobs
from app.tasks import stopping
from app.tasks.status import STOPPABLE, TaskStatus
from app.validation import heads as validation_heads
from prompts.builder import STRATEGIES

log = logging.getLogger(__name__)


class Operations(Pages):
    """The routes of the buttons and of the health page."""

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        task = r"/dashboard/tasks/{id:\d{1,18}}"
        app.router.add_post(f"{task}/retry", self.page(self.retry))
        app.router.add_post(f"{task}/cancel", self.page(self.cancel))
        app.router.add_post(f"{task}/validate", self.page(self.validate))
        app.router.add_get("/dashboard/health", self.page(self.health))
        app.router.add_get("/dashboard/health.json", self.page(self.health_json, json=True))
        app.router.add_post(r"/dashboard/jobs/{id:\d{1,18}}/retry", self.page(self.retry_job))
        app.router.add_post(
            r"/dashboard/deliveries/{id:[0-9A-Za-z-]{1,64}}/redeliver",
            self.page(self.redeliver),
        )

    # ---------------------------------------------------------------- task buttons

    async def _act(
        self, request: web.Request, viewer: Viewer, verb: str
    ) -> tuple[Any, Any, dict[str, str]]:
        """The task, its repository's settings and the form, once the viewer may
        give `verb` there and the form is this session's."""
        form = await checked_form(request, self.runtime.settings, request[SESSION])
        task = await self._task(request, viewer)
        allowed, config = await may_act(
            self.runtime, viewer, task.installation_id, task.repository, verb
        )
        if not allowed:
            raise web.HTTPForbidden(
                text=f"You may not {verb} tasks of {task.repository} (as with /codegen {verb})."
            )
        return task, config, form

    @staticmethod
    def _back(task_id: int, message: str) -> web.Response:
        return see_other(f"/dashboard/tasks/{task_id}?{urlencode({'done': message})}")

    async def retry(self, request: web.Request, viewer: Viewer) -> web.Response:
        task, config, form = await self._act(request, viewer, "retry")
        strategy = form.get("strategy") or None
        if strategy is not None and strategy not in STRATEGIES:
            raise web.HTTPBadRequest(text="Unknown strategy.")
        # `retry` writes "@{by} asked for a new attempt": the operator key is
        # named by the App's own bot account, which notifies nobody.
        by = viewer.login if viewer.github else await self.runtime.github.bot_login()
        outcome = await task_actions.retry(self.runtime, task, strategy, by, config.timeout_ms)
        log.info("dashboard: %s retried task %d: %s", viewer.login, task.id, outcome.message)
        return self._back(task.id, outcome.message)

    async def cancel(self, request: web.Request, viewer: Viewer) -> web.Response:
        task, _config, _form = await self._act(request, viewer, "cancel")
        stoppable: frozenset[TaskStatus] = STOPPABLE
        if stopping.watched_late(task, datetime.now(UTC)):
            stoppable = stoppable | {TaskStatus.TIMED_OUT}
        if task.status not in stoppable:
            return self._back(task.id, f"task {task.id} is not running; nothing to cancel.")
        reason = f"cancelled by {viewer.mention()} on the dashboard"
        stopped = await stopping.cancel(self.runtime, task, reason, from_status=stoppable)
        if stopped is None:
            return self._back(task.id, "the task changed state meanwhile; nothing was cancelled.")
        return self._back(task.id, f"cancelled task {task.id}: {stopped.summary()}")

    async def validate(self, request: web.Request, viewer: Viewer) -> web.Response:
        task, _config, _form = await self._act(request, viewer, "validate")
        started = []
        for pr in await pull_requests.for_task(self.runtime.pool, task.id):
            if pr.state != "open":
                continue
            trigger = f"validate on the dashboard by {viewer.mention()}"
            await validation_heads.revalidate(self.runtime, pr, trigger)
            started.append(f"#{pr.number} at {pr.head_sha[:7]}")
        if not started:
            return self._back(task.id, "no open pull request to validate.")
        return self._back(task.id, f"validating {', '.join(started)}.")

    # ---------------------------------------------------------------- health

    @staticmethod
    def _operators_only(viewer: Viewer) -> None:
        if not viewer.admin:
            raise web.HTTPForbidden(text="The health page is for operators (DASHBOARD_ADMINS).")

    async def health(self, request: web.Request, viewer: Viewer) -> web.Response:
        self._operators_only(viewer)
        pool = self.runtime.pool
        day_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.html(
            request,
            viewer,
            "health.html",
            stats=await jobs.queue_stats(pool),
            kinds=await health_store.depth_by_kind(pool),
            dead=await health_store.dead_jobs(pool),
            deliveries=await health_store.recent_deliveries(pool),
            # Budgets and limiters (app.budgets, app.limits): read from their tables.
            budgets=await health_store.budgets_today(pool, day_start),
            limiters=await health_store.limiter_state(pool),
            live_url="/dashboard/health.json",
            message=request.query.get("done"),
        )

    async def health_json(self, request: web.Request, viewer: Viewer) -> web.Response:
        self._operators_only(viewer)
        stats = await jobs.queue_stats(self.runtime.pool)
        text = {f"queue-{k}": str(stats[k]) for k in ("ready", "scheduled", "running", "dead")}
        text["queue-oldest"] = f"{stats['oldest_ready_age']:.0f}s"
        return web.json_response({"text": text}, headers={"Cache-Control": "no-store"})

    async def retry_job(self, request: web.Request, viewer: Viewer) -> web.Response:
        self._operators_only(viewer)
        await checked_form(request, self.runtime.settings, request[SESSION])
        job_id = int(request.match_info["id"])
        was = await jobs.retry(self.runtime.pool, job_id)
        log.info("dashboard: %s retried job %d (was %s)", viewer.login, job_id, was)
        message = f"job {job_id} queued again" if was in jobs.RETRYABLE else f"job {job_id}: {was}"
        return see_other("/dashboard/health?" + urlencode({"done": message}))

    async def redeliver(self, request: web.Request, viewer: Viewer) -> web.Response:
        self._operators_only(viewer)
        await checked_form(request, self.runtime.settings, request[SESSION])
        guid = request.match_info["id"]
        job_id = await deliveries.replay(
            self.runtime.pool, guid, self.runtime.settings.job_max_attempts
        )
        log.info("dashboard: %s ran delivery %s again (job %s)", viewer.login, guid, job_id)
        message = (
            f"delivery {guid} queued again (job {job_id})"
            if job_id is not None
            else f"delivery {guid} is unknown or still being handled"
        )
        return see_other("/dashboard/health?" + urlencode({"done": message}))
