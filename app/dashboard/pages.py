"""The dashboard's pages a person reads: the task list, one task, the KPIs over
time, and the static files they load. Each page has a JSON twin the page's
script polls (`live.js`) to update itself without a reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from app.dashboard import charts, filters, series_store, store
from app.dashboard.access import Viewer, viewer_for
from app.dashboard.render import HERE, age, render, safe_url
from app.dashboard.sessions import csrf_token
from app.dashboard.web import SESSION, current_session, secured, session_key
from app.followups import store as followups
from app.pull_requests import store as pull_requests
from app.runtime import Runtime
from app.tasks import requests_store as codegen_requests
from app.tasks import store as tasks
from app.tasks.status import STOPPABLE, TaskStatus
from prompts.builder import STRATEGIES

STATIC = {
    "dashboard.css": "text/css",
    "live.js": "text/javascript",
}
KPI_DAYS = 30
LIVE_EVERY_MS = 3000  # how often a page polls its JSON twin
KPI_UNITS = {
    "prompt_quality": "share",
    "label_to_pr_p50": "seconds",
    "label_to_pr_p90": "seconds",
    "error_rate": "share",
    "retry_success": "share",
    "ci_fix_success": "share",
    "validation_pass": "share",
    "runs": "count",
    "prs": "count",
}
KPI_TITLES = {
    "prompt_quality": "Prompt quality (first run's PR passed validation)",
    "label_to_pr_p50": "Label to PR, median",
    "label_to_pr_p90": "Label to PR, 90th percentile",
    "error_rate": "Error rate (attempts failed or timed out)",
    "retry_success": "Retry success (later attempts with a PR)",
    "ci_fix_success": "CI auto-fix success",
    "validation_pass": "Validation pass rate",
    "runs": "Agent runs per day",
    "prs": "PRs opened per day",
}

Page = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


class Pages:
    """The routes of the pages; each needs a signed-in viewer."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/dashboard", self.page(self.task_list))
        app.router.add_get("/dashboard/tasks.json", self.page(self.task_list_json, json=True))
        app.router.add_get(r"/dashboard/tasks/{id:\d{1,18}}", self.page(self.task_page))
        app.router.add_get(
            r"/dashboard/tasks/{id:\d{1,18}}.json", self.page(self.task_json, json=True)
        )
        app.router.add_get("/dashboard/kpis", self.page(self.kpi_page))
        app.router.add_get("/dashboard/static/{name}", secured(self.static))

    # ---------------------------------------------------------------- plumbing

    def page(self, handler: Page, *, json: bool = False) -> Callable[..., Any]:
        """Only for a signed-in viewer: others go to /login (a JSON call gets 401)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            session = await current_session(request, self.runtime)
            if session is None:
                if json:
                    raise web.HTTPUnauthorized(text="sign in first")
                raise web.HTTPSeeOther("/login")
            viewer = await viewer_for(self.runtime, session)
            request[SESSION] = session
            return await handler(request, viewer)

        return secured(guarded)

    def html(self, request: web.Request, viewer: Viewer, name: str, **context: Any) -> web.Response:
        key = session_key(self.runtime.settings)
        session = request[SESSION]

        def csrf(action: str) -> str:
            assert key is not None
            return csrf_token(key, session, action)

        text = render(
            name,
            viewer=viewer,
            csrf=csrf,
            now=datetime.now(UTC),
            live_every=LIVE_EVERY_MS,
            **context,
        )
        return web.Response(text=text, content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = (HERE / "static" / name).read_bytes()
        return web.Response(
            body=body,
            content_type=STATIC[name],
            headers={"Cache-Control": "public, max-age=300"},
        )

    # ---------------------------------------------------------------- tasks

    async def _tasks(self, request: web.Request, viewer: Viewer) -> tuple[Any, list[Any]]:
        flt = filters.parse(request.query)
        rows = await store.list_tasks(self.runtime.pool, flt, viewer.visible)
        return flt, rows

    async def task_list(self, request: web.Request, viewer: Viewer) -> web.Response:
        flt, rows = await self._tasks(request, viewer)
        cursor = filters.next_cursor([r.id for r in rows])
        repos = await store.repositories(self.runtime.pool, viewer.visible)
        return self.html(
            request,
            viewer,
            "tasks.html",
            flt=flt,
            tasks=rows[: filters.PAGE_SIZE],
            next_query=flt.query(before=cursor) if cursor else None,
            statuses=list(TaskStatus),
            repositories=repos,
            live_url="/dashboard/tasks.json?" + request.query_string,
            # New tasks appear at the top of the first page only (later pages are history).
            live_rows=flt.before is None,
        )

    async def task_list_json(self, request: web.Request, viewer: Viewer) -> web.Response:
        """Each shown task's changing cells by element id, and the rows themselves
        (as data, never markup) for the script to add tasks that are new."""
        _flt, rows = await self._tasks(request, viewer)
        now = datetime.now(UTC)
        text: dict[str, str] = {}
        shown = rows[: filters.PAGE_SIZE]
        for row in shown:
            text[f"task-{row.id}-status"] = row.status
            text[f"task-{row.id}-attempt"] = str(row.attempt)
            text[f"task-{row.id}-in-state"] = age(row.updated_at, now)
        return web.json_response(
            {
                "text": text,
                "ids": [r.id for r in shown],
                "rows": [
                    {
                        "id": r.id,
                        "title": f"{r.id} · {r.title[:80]}",
                        "status": r.status,
                        "repository": r.repository,
                        "issue": f"#{r.issue_number}",
                        "issue_url": safe_url(r.issue_url),
                        "prs": [safe_url(p.get("url")) for p in r.pull_requests if p.get("url")],
                        "requester": r.triggered_by,
                        "attempt": str(r.attempt),
                        "age": age(r.created_at, now),
                        "in_state": age(r.updated_at, now),
                    }
                    for r in shown
                ],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _task(self, request: web.Request, viewer: Viewer) -> tasks.Task:
        task = await tasks.get(self.runtime.pool, int(request.match_info["id"]))
        # A task of a repository the viewer does not see does not exist for them.
        if task is None or not viewer.sees(task.repository):
            raise web.HTTPNotFound(text="No such task.")
        return task

    async def task_page(self, request: web.Request, viewer: Viewer) -> web.Response:
        pool = self.runtime.pool
        task = await self._task(request, viewer)
        tracking = (
            f"{task.issue_url}#issuecomment-{task.tracking_comment_id}"
            if task.tracking_comment_id
            else None
        )
        return self.html(
            request,
            viewer,
            "task.html",
            task=task,
            steps=await store.workflow_steps(pool, task.id),
            runs=await codegen_requests.for_task(pool, task.id),
            followups=await followups.for_task(pool, task.id),
            pulls=await pull_requests.for_task(pool, task.id),
            validations=await store.validations_for_task(pool, task.id),
            tracking=tracking,
            strategies=STRATEGIES,
            stoppable=task.status in STOPPABLE,
            live_url=f"/dashboard/tasks/{task.id}.json",
            message=request.query.get("done"),
        )

    async def task_json(self, request: web.Request, viewer: Viewer) -> web.Response:
        pool = self.runtime.pool
        task = await self._task(request, viewer)
        steps = await store.workflow_steps(pool, task.id)
        text = {
            "task-status": task.status,
            "task-detail": task.status_detail or "",
            "task-attempt": str(task.attempt),
        }
        for step in steps:
            text[f"step-{step['name']}"] = str(step.get("status", ""))
        return web.json_response({"text": text}, headers={"Cache-Control": "no-store"})

    # ---------------------------------------------------------------- KPIs

    async def kpi_page(self, request: web.Request, viewer: Viewer) -> web.Response:
        last = datetime.now(UTC).date()
        first = last - timedelta(days=KPI_DAYS - 1)
        data = await series_store.series(self.runtime.pool, first, last, viewer.visible)
        built = [
            (KPI_TITLES[name], charts.build(name, KPI_UNITS[name], data[name]))
            for name in series_store.SERIES
        ]
        return self.html(
            request,
            viewer,
            "kpis.html",
            charts=built,
            chart_size=(
                charts.WIDTH,
                charts.HEIGHT,
                charts.PAD_LEFT,
                charts.PAD_TOP,
                charts.PAD_BOTTOM,
            ),
            live_url=None,
        )
