"""The KPIs of the original design as per-day series, from the stored rows
(so they agree with `app.observability.kpis_store` and survive restarts): the
KPI page's charts. Each series is one grouped query over an index on its time
column (migration 014), limited to the viewer's repositories (None: all).

Definitions (days are UTC):
- prompt_quality: of the tasks created that day whose first attempt is over,
  the share whose first run opened a PR that passed validation;
- label_to_pr_p50/p90: seconds from task creation (the label) to its PR, by
  the day the PR opened; prs: PRs opened; runs: agent runs created;
- error_rate: of the tasks whose attempt ended that day, the share failed or
  timed out; retry_success: of those on a second or later attempt, the share
  with a PR; ci_fix_success: of the PRs whose CI fixing ended, the share
  passed; validation_pass: of the validations completed, the share passed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from app.tasks.status import WORKING, TaskStatus, sql_list

SERIES = (
    "prompt_quality",
    "label_to_pr_p50",
    "label_to_pr_p90",
    "error_rate",
    "retry_success",
    "ci_fix_success",
    "validation_pass",
    "runs",
    "prs",
)
_PASSED = "('success', 'neutral')"
_REPOS = "($3::text[] IS NULL OR lower(t.repository) = ANY($3::text[]))"

QUERIES: dict[str, str] = {
    "prompt_quality": f"""
        SELECT (t.created_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE t.attempt = 1 AND EXISTS (
                   SELECT 1 FROM pull_requests p JOIN validations v ON v.pull_request_id = p.id
                   WHERE p.task_id = t.id AND v.status = 'completed'
                     AND v.conclusion IN {_PASSED}))::float8 / count(*) AS value
        FROM tasks t
        WHERE t.created_at >= $1 AND t.created_at < $2 AND {_REPOS}
          AND t.attempt >= 1 AND t.status NOT IN ({sql_list(WORKING)})
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "label_to_pr_p50": f"""
        SELECT (t.pr_opened_at AT TIME ZONE 'UTC')::date AS day,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM t.pr_opened_at - t.created_at)) AS value
        FROM tasks t
        WHERE t.pr_opened_at >= $1 AND t.pr_opened_at < $2 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "label_to_pr_p90": f"""
        SELECT (t.pr_opened_at AT TIME ZONE 'UTC')::date AS day,
               percentile_cont(0.9) WITHIN GROUP (
                   ORDER BY extract(epoch FROM t.pr_opened_at - t.created_at)) AS value
        FROM tasks t
        WHERE t.pr_opened_at >= $1 AND t.pr_opened_at < $2 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "error_rate": f"""
        SELECT (t.finished_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE t.status IN
                   ('{TaskStatus.FAILED}', '{TaskStatus.TIMED_OUT}'))::float8 / count(*) AS value
        FROM tasks t
        WHERE t.finished_at >= $1 AND t.finished_at < $2 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "retry_success": f"""
        SELECT (t.finished_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE t.pr_opened_at IS NOT NULL)::float8 / count(*) AS value
        FROM tasks t
        WHERE t.finished_at >= $1 AND t.finished_at < $2 AND t.attempt > 1 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "ci_fix_success": """
        SELECT (t.updated_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE t.ci_fix_outcome = 'passed')::float8 / count(*) AS value
        FROM pull_requests t
        WHERE t.updated_at >= $1 AND t.updated_at < $2 AND t.ci_fix_attempts > 0
          AND t.ci_fix_outcome IS NOT NULL
          AND ($3::text[] IS NULL OR lower(t.repository) = ANY($3::text[]))
        GROUP BY 1""",
    "validation_pass": f"""
        SELECT (v.completed_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE v.conclusion IN {_PASSED})::float8 / count(*) AS value
        FROM validations v JOIN pull_requests t ON t.id = v.pull_request_id
        WHERE v.completed_at >= $1 AND v.completed_at < $2 AND v.status = 'completed'
          AND v.conclusion <> 'cancelled' AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "runs": f"""
        SELECT (r.run_created_at AT TIME ZONE 'UTC')::date AS day, count(*)::float8 AS value
        FROM codegen_requests r JOIN tasks t ON t.id = r.task_id
        WHERE r.run_created_at >= $1 AND r.run_created_at < $2 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
    "prs": f"""
        SELECT (t.pr_opened_at AT TIME ZONE 'UTC')::date AS day, count(*)::float8 AS value
        FROM tasks t
        WHERE t.pr_opened_at >= $1 AND t.pr_opened_at < $2 AND {_REPOS}
        GROUP BY 1""",  # noqa: S608 - constant fragments and enum values
}  # the statuses put in are the enum's own values


async def series(
    conn: asyncpg.Connection | asyncpg.Pool,
    first: date,
    last: date,
    visible: Sequence[str] | None,
) -> dict[str, list[tuple[date, float | None]]]:
    """Every KPI, one (day, value) per day from `first` to `last` inclusive;
    None on a day with nothing to measure."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    start = datetime.combine(first, time.min, UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, UTC)
    repos: Any = None if visible is None else [v.lower() for v in visible]
    out: dict[str, list[tuple[date, float | None]]] = {}
    for name in SERIES:
        rows = await conn.fetch(QUERIES[name], start, end, repos)
        found = {r["day"]: r["value"] for r in rows}
        out[name] = [(d, found.get(d)) for d in days]
    return out
