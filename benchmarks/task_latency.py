"""Label to work, measured: how long from an accepted `issues.labeled` delivery
to (a) the tracking comment posted and (b) the Codegen agent run created, at a
steady rate of labeled issues, against the local fake GitHub and Codegen (real
HTTP on 127.0.0.1), a real embedded PostgreSQL and the bot's real server and
worker. Also counts the GitHub API calls one task costs from label to PR linked.

    .venv/bin/python benchmarks/task_latency.py [--rate 2] [--seconds 30] [--repos 20]

Writes the figures to stdout; bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.db import EmbeddedPostgres, ensure_database  # noqa: E402
from app.migrations import migrate  # noqa: E402
from tests.conftest import APP_ID, APP_SLUG, running_bot, sign  # noqa: E402
from tests.fakes.codegen import FakeCodegen  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.keys import make_app_key  # noqa: E402

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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main(rate: float, seconds: float, repos: int, write_interval: float) -> None:
    import asyncpg

    tmp = Path(tempfile.mkdtemp(prefix="task-latency-"))
    pg = EmbeddedPostgres(tmp)
    await asyncio.to_thread(pg.start)
    await ensure_database(pg.uri("postgres"), "bench")
    conn = await asyncpg.connect(pg.uri("bench"))
    await migrate(conn)
    await conn.close()

    private_pem, public_pem = make_app_key()
    github = FakeGitHub(
        app_id=APP_ID,
        public_key_pem=public_pem,
        app_slug=APP_SLUG,
        content_creation_per_minute=10_000,
        rate_limit=1_000_000,
    )
    await github.start()
    codegen = FakeCodegen(
        api_key="k", org_id=7, creates_per_window=10_000, standard_per_window=100_000
    )
    await codegen.start()
    names = [f"bench-org-{i}/app" for i in range(repos)]
    for i, name in enumerate(names):
        github.add_installation(1000 + i, account=name.split("/")[0])
        github.add_repo(name, installation_id=1000 + i)
        github.set_file(name, "README.md", "# App\n")
        github.set_permission(name, "maintainer", "write")
        codegen.add_repo(name)

    total = int(rate * seconds)
    for _ in range(total):
        codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    settings = Settings(
        github_app_id=APP_ID,
        github_private_key=private_pem.decode(),
        github_webhook_secret="bench",
        github_api_url=github.url,
        github_write_interval=write_interval,
        database_url=pg.uri("bench"),
        data_dir=tmp,
        codegen_api_key="k",
        codegen_org_id=7,
        codegen_api_url=codegen.url,
        max_concurrent_workflows=10,
        job_poll_seconds=1.0,
        run_poll_first_seconds=1.0,
        run_poll_max_seconds=2.0,
    )
    accepted: dict[tuple[str, int], float] = {}
    async with running_bot(settings) as bot, aiohttp.ClientSession() as http:
        started = time.monotonic()
        for n in range(total):
            repo = names[n % repos]
            number = 1000 + n
            github.add_issue(repo, number, title=f"Export CSV {n}", body=BODY, user="reporter")
            issue = dict(github.issues[repo][number])
            payload = {
                "action": "labeled",
                "issue": issue,
                "repository": dict(github.repos[repo]),
                "label": {"id": 1, "name": "codegen"},
                "installation": {"id": 1000 + n % repos},
                "sender": {"login": "maintainer", "id": 5, "type": "User"},
            }
            body = json.dumps(payload).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": f"bench-{n}",
                "X-Hub-Signature-256": sign(body, "bench"),
            }
            async with http.post(bot.webhook_url, data=body, headers=headers) as r:
                assert r.status == 202, await r.text()
            accepted[(repo, number)] = time.time()
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        pool = bot.runtime.pool
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = await pool.fetchval("SELECT count(*) FROM tasks WHERE status = 'pr_open'")
            if done == total:
                break
            await asyncio.sleep(0.2)
        finished = await pool.fetchval("SELECT count(*) FROM tasks WHERE status = 'pr_open'")

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
    calls = Counter(
        f"{r.method} {r.route}" for r in github.requests if r.route and "/app" != r.route[:4]
    )
    per_task = sum(calls.values()) / max(1, total)
    print(
        f"tasks: {total} at {rate}/s over {seconds:.0f}s, {repos} repositories/installations, "
        f"write interval {write_interval}s; reached pr_open: {finished}"
    )
    print(
        f"accepted -> tracking comment posted: p50 {statistics.median(to_comment):.0f} ms, "
        f"p99 {pct(to_comment, 99):.0f} ms (n={len(to_comment)})"
    )
    print(
        f"accepted -> agent run created:       p50 {statistics.median(to_run):.0f} ms, "
        f"p99 {pct(to_run, 99):.0f} ms (n={len(to_run)})"
    )
    print(f"GitHub API calls per task (installation token), label to PR linked: {per_task:.1f}")
    for route, count in sorted(calls.items(), key=lambda kv: -kv[1]):
        print(f"  {count / total:5.2f}  {route}")
    app_calls = sum(1 for r in github.requests if r.route and r.route.startswith("/app"))
    print(f"App-JWT calls in total (token minting, slug): {app_calls}")
    await github.close()
    await codegen.close()
    await asyncio.to_thread(pg.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2.0, help="labeled issues per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument(
        "--write-interval",
        type=float,
        default=1.0,
        help="GITHUB_WRITE_INTERVAL (the bot's default is 1.0)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds, args.repos, args.write_interval))
