"""The figures that say whether the bot is useful, computed from the stored
tasks, PRs and validations (so they survive restarts and agree across
processes): how fast a label becomes a PR and a PR a merge, and how often
validation, automatic CI fixes and retries succeed.

A read model over several tables (`tasks`, `pull_requests`, `validations`):
it owns no table and writes nothing, but it is SQL, so it is a store module
and the one place those tables are read together."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.tasks.status import ACTIVE, TaskStatus, sql_list

KPI_QUERY = f"""
SELECT
  (SELECT percentile_cont(0.5) WITHIN GROUP (
       ORDER BY extract(epoch FROM pr_opened_at - created_at))
     FROM tasks WHERE pr_opened_at IS NOT NULL) AS label_to_pr_median_seconds,
  (SELECT percentile_cont(0.5) WITHIN GROUP (
       ORDER BY extract(epoch FROM merged_at - pr_opened_at))
     FROM tasks WHERE merged_at IS NOT NULL AND pr_opened_at IS NOT NULL)
     AS pr_to_merge_median_seconds,
  (SELECT count(*) FILTER (WHERE conclusion IN ('success', 'neutral'))::float8
          / nullif(count(*), 0)
     FROM validations WHERE status = 'completed' AND conclusion <> 'cancelled')
     AS validation_pass_rate,
  (SELECT count(*) FILTER (WHERE ci_fix_outcome = 'passed')::float8
          / nullif(count(*), 0)
     FROM pull_requests WHERE ci_fix_attempts > 0 AND ci_fix_outcome IS NOT NULL)
     AS autofix_success_rate,
  (SELECT count(*) FILTER (WHERE pr_opened_at IS NOT NULL)::float8 / nullif(count(*), 0)
     FROM tasks
     WHERE attempt > 1
       AND status NOT IN ({sql_list(ACTIVE)}))
     AS retry_success_rate,
  (SELECT count(*) FROM tasks) AS tasks,
  (SELECT count(*) FROM tasks WHERE pr_opened_at IS NOT NULL) AS tasks_with_pr,
  (SELECT count(*) FROM tasks WHERE status = '{TaskStatus.MERGED}') AS tasks_merged,
  (SELECT count(*) FROM validations WHERE status = 'completed') AS validations
"""  # noqa: S608 - the statuses put in are the enum's own values

RATES = (
    "label_to_pr_median_seconds",
    "pr_to_merge_median_seconds",
    "validation_pass_rate",
    "autofix_success_rate",
    "retry_success_rate",
)


async def compute(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, Any]:
    """Each KPI, None when there is nothing to measure yet."""
    row = await conn.fetchrow(KPI_QUERY)
    return dict(row)
