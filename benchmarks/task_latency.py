"""Label to work, measured: how long from an accepted `issues.labeled` delivery
to (a) the tracking comment posted and (b) the Codegen agent run created, at a
steady rate of labeled issues, against the local fake GitHub and Codegen (real
HTTP on 127.0.0.1), a real embedded PostgreSQL and the bot's real server and
worker. Also counts the GitHub API calls one task costs from label to PR linked.

    .venv/bin/python benchmarks/task_latency.py [--rate 2] [--seconds 30] [--repos 20]

Writes the figures to stdout; bounded in time; loopback only.
"""

from __future__ import annotations

import asyncio

import aiohttp
import harness
from harness import latency, running_bot

BODY = """Add a CSV export of the visible rows.

## Requirements
- Add an "Export CSV" button to the toolbar
- Export only rows matching the filter

## Acceptance criteria
- [ ] Clicking the button downloads widgets.csv
"""
PR = {
    "url": "https://github.com/o/r/pull/1",
    "title": "Export",
    "id": 1,
    "head_branch_name": "codegen/x",
    "created_at": "2026-11-25T10:00:00Z",
}


async def main(rate: float, seconds: float, repos: int, write_interval: float) -> None:
    async with harness.environment("task-latency-") as env:
        await measure(env, rate, seconds, repos, write_interval)


async def measure(
    env: harness.Env, rate: float, seconds: float, repos: int, write_interval: float
) -> None:
    github, codegen = env.github, env.codegen
    names = env.add_repos(repos)
    total = int(rate * seconds)
    for _ in range(total):
        codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    accepted: dict[tuple[str, int], float] = {}
    settings = env.settings(write_interval=write_interval)
    async with running_bot(settings) as bot, aiohttp.ClientSession() as http:
        async for n in harness.paced(rate, total):
            repo = names[n % repos]
            number = 1000 + n
            github.add_issue(repo, number, title=f"Export CSV {n}", body=BODY, user="reporter")
            payload = {
                "action": "labeled",
                "issue": dict(github.issues[repo][number]),
                "repository": dict(github.repos[repo]),
                "label": {"id": 1, "name": "codegen"},
                "installation": {"id": harness.FIRST_INSTALLATION + n % repos},
                "sender": {"login": "maintainer", "id": 5, "type": "User"},
            }
            accepted[(repo, number)] = await harness.deliver(
                http, bot, "issues", payload, f"bench-{n}"
            )
        finished = await harness.wait_count(
            bot.runtime.pool, "SELECT count(*) FROM tasks WHERE status = 'pr_open'", total, 120
        )

    comment_at: dict[tuple[str, int], float] = {}
    for rec in github.requests:
        parts = rec.path.split("/")
        if rec.method == "POST" and rec.path.endswith("/comments") and len(parts) == 7:
            key = (f"{parts[2]}/{parts[3]}", int(parts[5]))
            comment_at.setdefault(key, rec.started_at)
    run_at: dict[tuple[str, int], float] = {}
    for rec in codegen.requests:
        if rec.method == "POST" and rec.path.endswith("/agent/run") and rec.status == 200:
            meta = rec.json["metadata"]
            run_at.setdefault((meta["repository"], meta["issue"]), rec.started_at)
    to_comment = [(comment_at[k] - t) * 1000 for k, t in accepted.items() if k in comment_at]
    to_run = [(run_at[k] - t) * 1000 for k, t in accepted.items() if k in run_at]
    calls, app_calls = harness.api_calls(github)
    per_task = sum(calls.values()) / max(1, total)
    print(
        f"tasks: {total} at {rate}/s over {seconds:.0f}s, {repos} repositories/installations, "
        f"write interval {write_interval}s; reached pr_open: {finished}"
    )
    print(f"accepted -> tracking comment posted: {latency(to_comment)}")
    print(f"accepted -> agent run created:       {latency(to_run)}")
    print(f"GitHub API calls per task (installation token), label to PR linked: {per_task:.1f}")
    harness.print_calls(calls, total, app_calls)


if __name__ == "__main__":
    args = harness.arguments(__doc__, "labeled issues", 2.0).parse_args()
    asyncio.run(main(args.rate, args.seconds, args.repos, args.write_interval))
