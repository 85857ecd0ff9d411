"""Check runs and check suites (a suite's status and conclusion come from its runs)."""

from __future__ import annotations

import copy
import json
import re
import zlib
from collections.abc import Iterable
from typing import Any

from tests.fakes.github.contract import (
    ANNOTATION_LEVELS,
    CHECK_ACTION_LIMITS,
    CHECK_CONCLUSIONS,
    MAX_ANNOTATIONS_PER_REQUEST,
    MAX_CHECK_RUN_ACTIONS,
    WEB,
)
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _fake_sha, _iso, _node_id

# the worst first: a suite's conclusion is the worst of its latest runs' conclusions
_SUITE_CONCLUSION_ORDER = (
    "action_required",
    "timed_out",
    "cancelled",
    "failure",
    "stale",
    "neutral",
    "success",
    "skipped",
)


def suite_conclusion(conclusions: Iterable[str | None]) -> str | None:
    """A check suite's conclusion from its runs' (approximation: the worst one wins;
    neutral and skipped runs do not fail a suite)."""
    present = {c for c in conclusions if c}
    for c in _SUITE_CONCLUSION_ORDER:
        if c in present:
            if c == "neutral" and "success" in present:
                return "success"
            return c
    return None


class ChecksMixin:
    """Check runs and suites (the state lives on `FakeGitHub`)."""

    def check_runs_for(self, full_name: str, head_sha: str | None = None) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            run
            for rid, run in sorted(self.check_runs.items())
            if self._check_run_repo[rid] == full and head_sha in (None, run["head_sha"])
        ]

    def add_check_run(
        self,
        full_name: str,
        *,
        name: str,
        head_sha: str,
        status: str = "completed",
        conclusion: str | None = "success",
        app_slug: str | None = None,
        check_run_id: int | None = None,
        output: dict[str, Any] | None = None,
        started_at: str | None = None,
        completed_at: str | None = None,
        details_url: str | None = None,
        external_id: str | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A check run on `head_sha`: of another App when `app_slug` names one (e.g. the
        repository's CI), else of this App. `output`: title/summary/text/annotations, as
        GitHub shows them to readers of the run (the bot reads failing checks' output)."""
        full = self._canonical(full_name)
        if status not in ("queued", "in_progress", "completed", "waiting", "requested", "pending"):
            raise ValueError(f"unknown check run status {status!r}")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise ValueError(f"unknown check run conclusion {conclusion!r}")
        if status == "completed" and conclusion is None:
            raise ValueError("a completed check run needs a conclusion")
        body: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            body["conclusion"] = conclusion
        for key, value in (
            ("output", output),
            ("started_at", started_at),
            ("completed_at", completed_at),
            ("details_url", details_url),
            ("external_id", external_id),
            ("actions", actions),
        ):
            if value is not None:
                body[key] = copy.deepcopy(value)
        return self._new_check_run(full, body, check_run_id=check_run_id, app_slug=app_slug)

    def app_object_for(self, app_slug: str | None) -> dict[str, Any]:
        """The App object of `app_slug`: this App's for None or its own slug, else a
        stable stand-in for another App (its id derived from the slug)."""
        if app_slug is None or app_slug == self.app_slug:
            return self.app_object()
        app_id = 1_000 + zlib.crc32(app_slug.encode()) % 100_000
        return {
            "id": app_id,
            "slug": app_slug,
            "client_id": f"Iv23li{app_id:014d}",
            "node_id": _node_id("Integration", app_id),
            "owner": self.user(app_slug),
            "name": app_slug,
            "description": "",
            "external_url": f"https://{app_slug}.example.invalid",
            "html_url": f"{WEB}/apps/{app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {"checks": "write", "metadata": "read", "statuses": "write"},
            "events": [],
        }

    def check_suite_for(
        self, full_name: str, head_sha: str, *, app_slug: str | None = None
    ) -> dict[str, Any]:
        """The check suite of an App (None = this App) on a commit; GitHub makes one per
        App and commit, and every check run of that App on that commit belongs to it.
        Created on first use. Its status/conclusion follow its runs (check_suite_view)."""
        full = self._canonical(full_name)
        app = self.app_object_for(app_slug)
        key = (full, head_sha, app["id"])
        if key in self._suite_index:
            return self.check_suites[self._suite_index[key]]
        suite_id = self._next_id("check_suite", 5_000_000_000)
        api = f"{self.url}/repos/{full}/check-suites/{suite_id}"
        history = next(
            (h for (f, _), h in self.pull_commits.items() if f == full and head_sha in h), []
        )
        before = history[history.index(head_sha) - 1] if head_sha in history[1:] else None
        branches = self.branches_at(full, head_sha)
        now = _iso()
        suite = {
            "id": suite_id,
            "node_id": _node_id("CheckSuite", suite_id),
            "head_branch": branches[0] if branches else None,
            "head_sha": head_sha,
            "status": "queued",
            "conclusion": None,
            "url": api,
            "before": before or "0" * 40,
            "after": head_sha,
            "pull_requests": [],
            "app": app,
            "created_at": now,
            "updated_at": now,
            "latest_check_runs_count": 0,
            "check_runs_url": f"{api}/check-runs",
            "head_commit": {
                "id": head_sha,
                "tree_id": _fake_sha(full, "tree", head_sha),
                "message": "A commit",
                "timestamp": now,
                "author": {"name": "Octo Cat", "email": "octocat@example.invalid"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "rerequestable": True,
            "runs_rerequestable": True,
        }
        self.check_suites[suite_id] = suite
        self._suite_index[key] = suite_id
        self._check_suite_repo[suite_id] = full
        return suite

    def check_suite_view(self, suite_id: int) -> dict[str, Any]:
        """The suite as GitHub shows it: status/conclusion from its latest runs (the
        stored ones while it has none), pull_requests, the latest runs' count."""
        suite = copy.deepcopy(self.check_suites[suite_id])
        full = self._check_suite_repo[suite_id]
        latest: dict[str, dict[str, Any]] = {}
        for _, run in sorted(self.check_runs.items()):
            if run["check_suite"]["id"] == suite_id:
                latest[run["name"]] = run
        runs = list(latest.values())
        if runs:
            statuses = {r["status"] for r in runs}
            if statuses == {"completed"}:
                suite["status"] = "completed"
                suite["conclusion"] = suite_conclusion([r["conclusion"] for r in runs])
            else:
                suite["status"] = "queued" if statuses == {"queued"} else "in_progress"
                suite["conclusion"] = None
        suite["latest_check_runs_count"] = len(runs)
        suite["pull_requests"] = self.pull_refs_at(full, suite["head_sha"])
        suite["repository"] = copy.deepcopy(self.repos[full])
        return suite

    def check_run_view(self, run_id: int) -> dict[str, Any]:
        """A check run as the REST API answers it (pull_requests filled in)."""
        run = copy.deepcopy(self.check_runs[run_id])
        run["pull_requests"] = self.pull_refs_at(self._check_run_repo[run_id], run["head_sha"])
        return run

    # checks

    def _validate_check_run_body(self, body: dict[str, Any], existing: dict | None) -> None:
        # The pinned schema already holds enums, maxItems and maxLength (checked before the
        # handler runs); the checks marked "limit" repeat GitHub's documented limits so they
        # hold even if a future schema drops them.
        if "status" in body and body["status"] not in (
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ):
            raise GitHubError(  # limit
                422,
                f"Invalid request.\n\nFor 'properties/status', {json.dumps(body['status'])} "
                'is not a member of ["queued", "in_progress", "completed"].',
            )
        if "conclusion" in body and body["conclusion"] not in CHECK_CONCLUSIONS:
            raise GitHubError(  # limit
                422,
                f"Invalid request.\n\nFor 'properties/conclusion', "
                f"{json.dumps(body['conclusion'])} is not a member of "
                f"{json.dumps(list(CHECK_CONCLUSIONS))}.",
            )
        actions = body.get("actions") or []
        if len(actions) > MAX_CHECK_RUN_ACTIONS:
            raise GitHubError(  # limit
                422,
                "Invalid request.\n\nFor 'properties/actions', "
                f"only {MAX_CHECK_RUN_ACTIONS} actions are allowed ({len(actions)} given).",
            )
        for action in actions:
            for key, limit in CHECK_ACTION_LIMITS.items():
                value = action.get(key)
                if not isinstance(value, str):
                    raise GitHubError(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
                if len(value) > limit:
                    raise GitHubError(  # limit
                        422,
                        f"Invalid request.\n\nFor 'properties/actions/items/properties/{key}', "
                        f"{json.dumps(value)} is longer than {limit} characters.",
                    )
        if body.get("conclusion") == "stale":
            raise GitHubError(
                422,
                "Invalid request.\n\nYou cannot change a check run "
                "conclusion to stale, only GitHub can set this.",
            )
        if body.get("status") in ("waiting", "requested", "pending"):
            raise GitHubError(
                422,
                f"Invalid request.\n\nOnly GitHub Actions can set a status of {body['status']}.",
            )
        has_conclusion = "conclusion" in body or (existing or {}).get("conclusion")
        if (body.get("status") == "completed" or "completed_at" in body) and not has_conclusion:
            raise GitHubError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
        output = body.get("output") or {}
        annotations = output.get("annotations") or []
        if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
            raise GitHubError(
                422,
                "Invalid request.\n\nFor 'properties/output/properties/"
                "annotations', only 50 annotations are allowed per request.",
            )
        for a in annotations:
            if a.get("annotation_level") not in ANNOTATION_LEVELS:
                raise GitHubError(  # limit
                    422,
                    "Invalid request.\n\nFor 'properties/output/properties/annotations/items/"
                    f"properties/annotation_level', {json.dumps(a.get('annotation_level'))} "
                    f"is not a member of {json.dumps(list(ANNOTATION_LEVELS))}.",
                )
            if ("start_column" in a or "end_column" in a) and a["start_line"] != a["end_line"]:
                raise GitHubError(
                    422,
                    "Invalid request.\n\nstart_column and end_column may "
                    "only be used when start_line equals end_line.",
                )
            if a["end_line"] < a["start_line"]:
                raise GitHubError(422, "Invalid request.\n\nend_line must be >= start_line.")
        if body.get("head_sha") is not None and not re.fullmatch(r"[0-9a-f]{40}", body["head_sha"]):
            raise GitHubError(422, f"No commit found for SHA: {body['head_sha']}")

    def _new_check_run(
        self,
        full: str,
        body: dict[str, Any],
        *,
        check_run_id: int | None = None,
        app_slug: str | None = None,
    ) -> dict[str, Any]:
        if check_run_id is None:
            run_id = self._next_id("check_run", 4_000_000_000)
        else:
            run_id = check_run_id
            self._seen_id("check_run", run_id)
        now = _iso()
        status = "completed" if body.get("conclusion") else body.get("status", "queued")
        suite = self.check_suite_for(full, body["head_sha"], app_slug=app_slug)
        suite["updated_at"] = now
        run = {
            "id": run_id,
            "node_id": _node_id("CheckRun", run_id),
            "head_sha": body["head_sha"],
            "external_id": body.get("external_id", ""),
            "url": f"{self.url}/repos/{full}/check-runs/{run_id}",
            "html_url": f"{WEB}/{full}/runs/{run_id}",
            "details_url": body.get("details_url", f"https://{self.app_slug}.example.invalid"),
            "status": status,
            "conclusion": body.get("conclusion"),
            "started_at": body.get("started_at", now),
            "completed_at": body.get("completed_at", now if status == "completed" else None),
            "output": {
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{self.url}/repos/{full}/check-runs/{run_id}/annotations",
            },
            "name": body["name"],
            "check_suite": {"id": suite["id"]},
            "app": copy.deepcopy(suite["app"]),
            "pull_requests": [],  # filled in by check_run_view
        }
        self.check_runs[run_id] = run
        self._check_run_repo[run_id] = full
        self.annotations[run_id] = []
        self.check_run_actions[run_id] = []
        self._apply_check_run_output(run, body)
        return run

    def _apply_check_run_output(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        output = body.get("output")
        if output:
            for key in ("title", "summary", "text"):
                if key in output:
                    run["output"][key] = output[key]
            self.annotations[run["id"]].extend(copy.deepcopy(output.get("annotations") or []))
            run["output"]["annotations_count"] = len(self.annotations[run["id"]])
        if "actions" in body:
            self.check_run_actions[run["id"]] = copy.deepcopy(body["actions"])

    def _create_check_run(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        self._validate_check_run_body(ctx.body, None)
        run = self._new_check_run(ctx.full_name, ctx.body)
        return 201, self.check_run_view(run["id"])

    def _update_check_run(self, ctx: Ctx) -> Reply:
        run_id = ctx.int_param("check_run_id")
        run = self.check_runs.get(run_id)
        if run is None or self._check_run_repo[run_id] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        if run["app"]["slug"] != self.app_slug:
            raise GitHubError(
                403,
                f"Invalid app_id `{self.app_id}` - check run can only be "
                "modified by the GitHub App that created it.",
            )
        body = ctx.body
        self._validate_check_run_body(body, run)
        for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if key in body:
                run[key] = body[key]
        if "status" in body:
            run["status"] = body["status"]
        if "conclusion" in body:
            run["conclusion"] = body["conclusion"]
            run["status"] = "completed"
        if run["status"] == "completed" and not run["completed_at"]:
            run["completed_at"] = _iso()
        self._apply_check_run_output(run, body)
        return 200, self.check_run_view(run_id)

    def _get_check_run(self, ctx: Ctx) -> Reply:
        run_id = ctx.int_param("check_run_id")
        if run_id not in self.check_runs or self._check_run_repo[run_id] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        return 200, self.check_run_view(run_id)

    def _list_check_runs(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        ref = ctx.params["ref"]
        sha = self.refs.get((ctx.full_name, ref.removeprefix("heads/")), ref)
        runs = self.check_runs_for(ctx.full_name, sha)
        q = ctx.query
        if q.get("check_name"):
            runs = [r for r in runs if r["name"] == q["check_name"]]
        if q.get("status"):
            runs = [r for r in runs if r["status"] == q["status"]]
        if q.get("app_id"):
            runs = [r for r in runs if str(r["app"]["id"]) == q["app_id"]]
        if q.get("filter", "latest") not in ("latest", "all"):
            raise GitHubError(
                422,
                "Invalid request.\n\nFor 'filter', "
                f'{json.dumps(q["filter"])} is not a member of ["latest", "all"].',
            )
        if q.get("filter", "latest") == "latest":
            # the newest run of each name in each check suite (i.e. per App)
            latest: dict[tuple[int, str], dict[str, Any]] = {}
            for r in runs:
                latest[(r["check_suite"]["id"], r["name"])] = r
            runs = list(latest.values())
        runs = sorted(runs, key=lambda r: r["id"], reverse=True)
        chunk, headers = self._paginate(ctx, runs)
        views = [self.check_run_view(r["id"]) for r in chunk]
        return 200, {"total_count": len(runs), "check_runs": views}, headers
