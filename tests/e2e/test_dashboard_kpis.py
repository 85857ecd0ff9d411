"""The KPIs, checked against the stored rows: a task made by the real flow
(label, agent run, PR, validation that passes) moves the Prometheus counters
and histograms where each event happens, by exactly what the tables hold, and
the dashboard's per-day series read the same from the tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.dashboard import series_store
from tests.support.bot import running_bot
from tests.support.flow import QUICK, REPO, wait_until
from tests.support.validation import (
    CLEAN_FILES,
    ci_run,
    open_pull,
    start_task_with_pr,
    validation_row,
)

SERIES = {
    "runs": "codegen_bot_agent_runs_created_total",
    "prs": "codegen_bot_pull_requests_opened_total",
    "label_to_pr_count": "codegen_bot_label_to_pr_seconds_count",
    "label_to_pr_sum": "codegen_bot_label_to_pr_seconds_sum",
    "first_success": ('codegen_bot_validation_verdicts_total{attempt="first",verdict="success"}'),
    "ended_with_pr": ('codegen_bot_task_attempts_ended_total{attempt="first",outcome="pr_open"}'),
}


async def _scrape(bot) -> dict[str, float]:
    async with bot.session.get(bot.url + "/metrics") as r:
        text = await r.text()
    found = {}
    for key, series in SERIES.items():
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        found[key] = float(match.group(1)) if match else 0.0
    return found


async def test_the_kpis_follow_the_stored_rows(
    flow_settings, seeded, fake_codegen, example_payload
):
    seeded.set_file(REPO, ".github/codegen.yml", QUICK)
    pull = open_pull(seeded, CLEAN_FILES)
    ci_run(seeded, pull["head"]["sha"], "tests", "success")
    async with running_bot(flow_settings) as bot:
        before = await _scrape(bot)
        await start_task_with_pr(bot, seeded, fake_codegen, example_payload)
        await wait_until(lambda: validation_row(bot, pull["head"]["sha"]))
        await bot.wait_idle()
        after = await _scrape(bot)
        pool = bot.runtime.pool
        stored = await pool.fetchrow(
            """SELECT
                 (SELECT count(*) FROM codegen_requests WHERE run_created_at IS NOT NULL) AS runs,
                 (SELECT count(*) FROM tasks WHERE pr_opened_at IS NOT NULL) AS prs,
                 (SELECT sum(extract(epoch FROM pr_opened_at - created_at))::float8
                    FROM tasks) AS label_to_pr,
                 (SELECT count(*) FROM validations WHERE conclusion = 'success') AS passed"""
        )
        today = datetime.now(UTC).date()
        series = await series_store.series(pool, today, today, None)
        mine = await series_store.series(pool, today, today, [REPO.upper()])
        none = await series_store.series(pool, today, today, ["someone/else"])
    delta = {k: after[k] - before[k] for k in SERIES}
    assert delta["runs"] == stored["runs"] == 1
    assert delta["prs"] == stored["prs"] == 1
    assert delta["label_to_pr_count"] == 1
    assert abs(delta["label_to_pr_sum"] - stored["label_to_pr"]) < 0.01
    assert delta["first_success"] == stored["passed"] == 1
    assert delta["ended_with_pr"] == 1
    # The per-day series of the dashboard: one day, the same figures.
    day = {name: values[0][1] for name, values in series.items()}
    assert day["runs"] == 1 and day["prs"] == 1
    assert day["validation_pass"] == 1.0 and day["prompt_quality"] == 1.0
    assert abs(day["label_to_pr_p50"] - stored["label_to_pr"]) < 0.01
    assert day["error_rate"] == 0.0
    assert day["retry_success"] is None and day["ci_fix_success"] is None
    assert mine == series  # a viewer of the repository (any case) sees the same
    assert all(values[0][1] is None for values in none.values())
