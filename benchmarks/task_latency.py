"""Label to work, measured: how long from an accepted `issues.labeled` delivery
to (a) the first feedback on GitHub (the 👀 reaction or the tracking comment,
whichever is first) and (b) the Codegen agent run created, against the local
fake GitHub and Codegen (real HTTP on 127.0.0.1), a real embedded PostgreSQL and
the bot's real server and worker. Also counts the GitHub API calls one task
costs from label to PR linked.

    .venv/bin/python benchmarks/task_latency.py --scenario spread    # 2/s, 20 installations
    .venv/bin/python benchmarks/task_latency.py --scenario burst     # 8 in 4 s, 1 installation
    .venv/bin/python benchmarks/task_latency.py --scenario feedback  # 20/s, 20 installations
    .venv/bin/python benchmarks/task_latency.py [--rate 2] [--seconds 5] [--repos 20]

Each repository is its own installation; one more, unmeasured, takes a warm-up
label first (see `warm_up`). Writes the figures to stdout, the
last line machine-readable (`RESULT name=value ...`); bounded in time;
loopback only.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter

import aiohttp
import harness
from harness import latency, pct, running_bot

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
# name: (labels a second, seconds, repositories = installations, wait for the PRs)
# `spread` and `burst` stay within Codegen's 10 creates a minute (10 and 8
# labels), so nothing but the bot stands between a label and its run;
# `feedback` goes past it (40 labels) and measures the first feedback only.
SCENARIOS: dict[str, tuple[float, float, int, bool]] = {
    "spread": (2.0, 5.0, 20, True),
    "burst": (2.0, 4.0, 1, True),
    "feedback": (20.0, 2.0, 20, False),
}


async def main(
    name: str,
    rate: float,
    seconds: float,
    repos: int,
    write_interval: float,
    to_pr: bool,
    write_burst: int | None = None,
) -> None:
    async with harness.environment("task-latency-") as env:
        await measure(env, name, rate, seconds, repos, write_interval, to_pr, write_burst)


def _issue_of(path: str) -> tuple[str, int] | None:
    """(repository, issue) of `/repos/o/r/issues/N/comments|reactions`."""
    parts = path.split("/")
    if len(parts) == 7 and parts[4] == "issues" and parts[6] in ("comments", "reactions"):
        return f"{parts[2]}/{parts[3]}", int(parts[5])
    return None


async def measure(
    env: harness.Env,
    name: str,
    rate: float,
    seconds: float,
    repos: int,
    write_interval: float,
    to_pr: bool,
    write_burst: int | None = None,
) -> None:
    github, codegen = env.github, env.codegen
    names = env.add_repos(repos + 1)
    warm = names.pop()  # its own installation, for the warm-up label only
    total = int(rate * seconds)
    for _ in range(total):
        codegen.script_run(statuses=["ACTIVE", "COMPLETE"], pull_requests=[PR])
    accepted: dict[tuple[str, int], float] = {}
    overrides = {} if write_burst is None else {"github_write_burst": write_burst}
    settings = env.settings(write_interval=write_interval, **overrides)
    async with running_bot(settings) as bot, aiohttp.ClientSession() as http:
        await warm_up(github, bot, http, warm, harness.FIRST_INSTALLATION + repos)
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
        if to_pr:
            finished = await harness.wait_count(
                bot.runtime.pool, "SELECT count(*) FROM tasks WHERE status = 'pr_open'", total, 120
            )
            await bot.wait_idle(timeout=60)
            # Every tracking comment written to its end (edits wait for their turn,
            # one write a second per installation).
            await harness.wait_count(
                bot.runtime.pool,
                "SELECT count(*) = 0 FROM jobs WHERE kind = 'task.render'"
                " AND status IN ('queued', 'running')",
                1,
                180,
            )
        else:
            finished = await harness.wait_count(
                bot.runtime.pool,
                "SELECT count(*) FROM tasks WHERE tracking_comment_id IS NOT NULL",
                total + 1,  # and the warm-up's
                120,
            )
        made_at = {
            (r["repository"], r["issue_number"]): r["at"]
            for r in await bot.runtime.pool.fetch(
                "SELECT repository, issue_number, extract(epoch FROM created_at) AS at FROM tasks"
            )
        }

    measured = [r for r in github.requests if f"/repos/{warm}/" not in r.path]
    feedback_at: dict[tuple[str, int], float] = {}
    comment_at: dict[tuple[str, int], float] = {}
    for rec in measured:
        key = _issue_of(rec.path) if rec.method == "POST" else None
        if key is not None:
            feedback_at.setdefault(key, rec.started_at)
            if rec.path.endswith("/comments"):
                comment_at.setdefault(key, rec.started_at)
    run_at: dict[tuple[str, int], float] = {}
    for rec in codegen.requests:
        if rec.method == "POST" and rec.path.endswith("/agent/run") and rec.status == 200:
            meta = rec.json["metadata"]
            run_at.setdefault((meta["repository"], meta["issue"]), rec.started_at)

    def since_label(at: dict[tuple[str, int], float]) -> list[float]:
        return [(at[k] - t) * 1000 for k, t in accepted.items() if k in at]

    to_feedback, to_comment, to_run = (since_label(d) for d in (feedback_at, comment_at, run_at))
    to_task = since_label({k: float(v) for k, v in made_at.items()})
    calls = Counter(f"{r.method} {r.route}" for r in measured if r.route and r.route[:4] != "/app")
    app_calls = sum(1 for r in github.requests if r.route and r.route.startswith("/app"))
    per_task = sum(calls.values()) / max(1, total)
    print(
        f"scenario {name}: {total} labels at {rate:g}/s over {seconds:g}s, {repos} "
        f"installations (one repository each), write interval {write_interval:g}s; "
        f"{'reached pr_open' if to_pr else 'tracking comments posted (with the warm-up)'}: "
        f"{finished}"
    )
    print(f"label -> task row committed:             {latency(to_task)}")
    print(f"label -> first feedback (👀 or comment): {latency(to_feedback)}")
    print(f"label -> tracking comment posted:       {latency(to_comment)}")
    print(f"label -> agent run created:              {latency(to_run)}")
    if to_pr:
        print(f"GitHub API calls per task (installation token), label to PR linked: {per_task:.1f}")
        harness.print_calls(calls, total, app_calls)
    overlaps = len(github.write_overlaps())
    print(f"writes at once on one installation (must be 0): {overlaps}")
    figures = {
        "scenario": name,
        "labels": total,
        "write_interval_s": f"{write_interval:g}",
        "write_burst": str(settings.github_write_burst),
        "feedback_p50_ms": _ms(to_feedback, 50),
        "feedback_p99_ms": _ms(to_feedback, 99),
        "comment_p50_ms": _ms(to_comment, 50),
        "comment_p99_ms": _ms(to_comment, 99),
        "create_p50_ms": _ms(to_run, 50),
        "create_p99_ms": _ms(to_run, 99),
        "created": len(to_run),
        "task_p50_ms": _ms(to_task, 50),
        "task_p99_ms": _ms(to_task, 99),
        "calls_per_task": f"{per_task:.1f}" if to_pr else "na",
        "write_overlaps": overlaps,
    }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


async def warm_up(
    github: harness.FakeGitHub,
    bot: harness.Bot,
    http: aiohttp.ClientSession,
    repo: str,
    installation: int,
) -> None:
    """One unmeasured label on a repository of its own, an issue too thin to start
    a run (no create spent): the first task of a fresh process starts the CPU
    worker process and reads the App's slug, which a running bot has done long
    before. Waits until its task asks for more information."""
    github.add_issue(repo, 1, title="Warm up", body="?", user="reporter")
    payload = {
        "action": "labeled",
        "issue": dict(github.issues[repo][1]),
        "repository": dict(github.repos[repo]),
        "label": {"id": 1, "name": "codegen"},
        "installation": {"id": installation},
        "sender": {"login": "maintainer", "id": 5, "type": "User"},
    }
    await harness.deliver(http, bot, "issues", payload, "bench-warm-up")
    await harness.wait_count(
        bot.runtime.pool, "SELECT count(*) FROM tasks WHERE status = 'needs_info'", 1, 60
    )


def _ms(values: list[float], q: int) -> str:
    if not values:
        return "na"
    return f"{statistics.median(values) if q == 50 else pct(values, q):.0f}"


if __name__ == "__main__":
    parser = harness.arguments(__doc__, "labeled issues", 2.0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default=None)
    parser.add_argument(
        "--to-pr",
        action="store_true",
        help="without --scenario: wait for every PR and count calls per task",
    )
    parser.add_argument(
        "--write-burst",
        type=int,
        default=None,
        help="GITHUB_WRITE_BURST (default: the bot's; 1 = strictly one write an interval)",
    )
    args = parser.parse_args()
    if args.scenario:
        rate, seconds, repos, to_pr = SCENARIOS[args.scenario]
    else:
        rate, seconds, repos, to_pr = args.rate, args.seconds, args.repos, args.to_pr
    name = args.scenario or "custom"
    asyncio.run(main(name, rate, seconds, repos, args.write_interval, to_pr, args.write_burst))
