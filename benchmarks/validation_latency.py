"""PR validation, measured: how long from an accepted `pull_request.opened`
delivery to the `codegen/validation` check run created (`in_progress`, or
already completed when CI had finished and the PR is small), to it completed,
and to the review posted, at a steady rate of opened PRs, against the local
fake GitHub (real HTTP on 127.0.0.1), a real embedded PostgreSQL and the
bot's real server and worker. Also counts the GitHub API calls one validation
costs, by route.

Every repository has `.github/codegen.yml` = `validate: all` and
`validation: {ci_start_seconds: 0}`; every PR has 6 files and about 150 added
lines (one TODO, one test file), its CI already completed on the head commit
(`build` passed; on every 5th PR `tests` failed too), and every 4th PR adds a
file of 60 TODOs, so its 60+ annotations need two PATCHes.

    .venv/bin/python benchmarks/validation_latency.py [--rate 0.5] [--seconds 30] [--repos 20]
        [--write-interval 1.0] [--hot-share 0.9] [--drain-seconds 180] [--no-rerun]
        [--ci-running]

`--ci-running`: each PR's `build` is still running when the PR is opened (the
usual case for an agent's fresh PR); once every validation waits for CI, each
build passes and its `check_run.completed` is delivered, at the same rate. The
latencies then include that wait; the calls per validation are the figure.

After every PR is reviewed, a writer clicks Re-run on each PR's check run (the
same head validated again, unless `--no-rerun`): its calls, and the reads
GitHub answered 304 Not Modified, are counted on their own. The last line is
machine-readable: `RESULT name=value ...` (calls per validation, 304s, token
mints per installation, latencies in ms).

`--hot-share 0.9` opens 90 % of the PRs on the first repository (one
installation) and the rest round robin on the others, and also reports the
others' figures alone: what a busy installation does to everyone else's.

Writes the figures to stdout; bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

import aiohttp
import harness  # first: puts the repository on sys.path for `tests`
from harness import latency, running_bot

from tests.support.events import check_run_event, pull_request_event

CONFIG = "validate: all\nvalidation:\n  ci_start_seconds: 0\n"
CHECK_NAME = "codegen/validation"
AUTHOR = "dev-dana"
FAILED = {"title": "1 test failed", "summary": "test_export_header"}


def hunk(new_start: int, added: list[str], context: tuple[str, str] | None) -> str:
    """A unified-diff hunk adding `added` after a context line (a modified file), or
    a whole new file when `context` is None."""
    body = "".join(f"+{line}\n" for line in added)
    if context is None:
        return f"@@ -0,0 +1,{len(added)} @@\n{body}".rstrip("\n")
    before, after = context
    old = new_start - 1
    return f"@@ -{old},2 +{old},{len(added) + 2} @@\n {before}\n{body} {after}".rstrip("\n")


def export_module(n: int) -> list[str]:
    """~50 added lines of plain code."""
    lines = [f"def export_rows_{n}(rows, columns, out):"]
    lines.append('    """Write the visible rows as CSV, header first."""')
    lines.append("    writer = csv.writer(out)")
    lines.append("    writer.writerow([c.title for c in columns])")
    for i in range(22):
        lines.append(f"    value_{i} = rows.get('column_{i}', '')")
        lines.append(f"    out.write(str(value_{i}))")
    lines.append("    return out")
    return lines


def filters_module(n: int) -> list[str]:
    """30 added lines, one of them a TODO."""
    lines = [f"def matching_{n}(rows, query):", "    result = []"]
    for i in range(26):
        lines.append(f"    result.append(rows[{i}]) if query in rows[{i}] else None")
    lines.insert(5, "    # TODO: match case-insensitively once the index supports it")
    lines.append("    return result")
    return lines[:30]


def test_module(n: int) -> list[str]:
    """40 added lines of tests."""
    lines = ["import io", "", "from widgets import export", ""]
    for i in range(12):
        lines += [
            f"def test_export_{n}_{i}():",
            f"    assert export.export_rows_{n}({{}}, [], io.StringIO()) is not None",
            "",
        ]
    return lines


def todo_module() -> list[str]:
    """60 TODOs: 60 annotations, more than one PATCH holds (50)."""
    return [f"# TODO: port legacy rule {i} to the new engine" for i in range(60)]


def pull_files(n: int, heavy: bool) -> list[dict[str, Any]]:
    docs = [f"Export step {i} of the CSV guide for widget table {n}." for i in range(20)]
    files = [
        {
            "filename": "widgets/export.py",
            "status": "modified",
            "patch": hunk(40, export_module(n), ("import csv", "")),
        },
        {
            "filename": "widgets/filters.py",
            "status": "modified",
            "patch": hunk(12, filters_module(n), ("import re", "")),
        },
        {
            "filename": "widgets/__init__.py",
            "status": "modified",
            "patch": hunk(3, ["from .export import export_rows", "VERSION = '1.4'"], ("", "")),
        },
        {
            "filename": "tests/test_export.py",
            "status": "added",
            "patch": hunk(1, test_module(n), None),
        },
        {"filename": "docs/export.md", "status": "added", "patch": hunk(1, docs, None)},
        {
            "filename": "CHANGELOG.md",
            "status": "modified",
            "patch": hunk(3, ["## 1.4", "", "- CSV export of the visible rows"], ("# Changes", "")),
        },
    ]
    if heavy:
        files[4] = {
            "filename": "widgets/legacy_rules.py",
            "status": "added",
            "patch": hunk(1, todo_module(), None),
        }
    return files


def seed_pull(
    github: Any, repo: str, number: int, n: int, ci_running: bool = False
) -> dict[str, Any]:
    """The PR, its CI (completed, or `build` still running) and its `opened` payload."""
    pull = github.add_pull(
        repo,
        number,
        title=f"CSV export {n}",
        body="Adds the CSV export of the visible rows.",
        user=AUTHOR,
        head_ref=f"feature/csv-{n}",
        files=pull_files(n, heavy=n % 4 == 3),
    )
    sha = pull["head"]["sha"]
    ci = {"head_sha": sha, "app_slug": "github-actions"}  # another App: the repository's CI
    if ci_running:
        github.add_check_run(repo, name="build", status="in_progress", conclusion=None, **ci)
    else:
        github.add_check_run(repo, name="build", **ci)
    if n % 5 == 2:
        github.add_check_run(repo, name="tests", conclusion="failure", output=FAILED, **ci)
    return pull_request_event(github, "opened", repo, number, sender=AUTHOR)


def repo_for(n: int, names: list[str], hot_share: float) -> str:
    """Round robin; with `hot_share`, that share of the PRs (evenly spread in time) goes
    to the first repository and the rest round robin to the others."""
    if hot_share <= 0 or len(names) < 2:
        return names[n % len(names)]
    if int((n + 1) * hot_share) > int(n * hot_share):
        return names[0]
    cold = n - int((n + 1) * hot_share)
    return names[1 + cold % (len(names) - 1)]


async def main(args: argparse.Namespace) -> None:
    async with harness.environment("validation-latency-") as env:
        await measure(env, args)


async def measure(env: harness.Env, args: argparse.Namespace) -> None:
    github = env.github
    names = env.add_repos(args.repos)
    for name in names:
        github.set_file(name, ".github/codegen.yml", CONFIG)
    total = int(args.rate * args.seconds)
    payloads = {}  # head sha -> delivery, built before the clock starts
    for n in range(total):
        repo = repo_for(n, names, args.hot_share)
        payload = seed_pull(github, repo, 1000 + n, n, args.ci_running)
        payloads[payload["pull_request"]["head"]["sha"]] = payload
    accepted: dict[str, float] = {}
    settings = env.settings(write_interval=args.write_interval)
    with harness.bot_log() as log:
        async with running_bot(settings) as bot, aiohttp.ClientSession() as http:
            shas = list(payloads)
            async for n in harness.paced(args.rate, total):
                accepted[shas[n]] = await harness.deliver(
                    http, bot, "pull_request", payloads[shas[n]], f"bench-{n}"
                )
            pool = bot.runtime.pool
            if args.ci_running:
                await finish_ci(env, bot, http, payloads, args)
            reviewed = await harness.wait_count(
                pool,
                "SELECT count(*) FROM validations WHERE review_id IS NOT NULL",
                total,
                args.drain_seconds,
            )
            rows = await pool.fetch(
                "SELECT status, conclusion, count(*) AS n FROM validations GROUP BY 1, 2"
            )
            first_round = len(github.requests)
            rerun = None
            if args.rerun:
                rerun = await rerun_all(env, bot, http, payloads, args)
    report(args, github, payloads, accepted, reviewed, rows, log, first_round, rerun)


async def finish_ci(
    env: harness.Env,
    bot: Any,
    http: aiohttp.ClientSession,
    payloads: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> None:
    """`--ci-running`: once every validation waits for CI, each PR's `build`
    passes and its `check_run.completed` is delivered, at the same rate."""
    github = env.github
    await harness.wait_count(
        bot.runtime.pool,
        "SELECT count(*) FROM validations WHERE status = 'waiting_ci'",
        len(payloads),
        args.drain_seconds,
    )
    builds = {
        r["head_sha"]: r
        for r in github.check_runs.values()
        if r["name"] == "build" and r["status"] != "completed"
    }
    shas = [sha for sha in payloads if sha in builds]
    async for n in harness.paced(args.rate, len(shas)):
        run = builds[shas[n]]
        run.update(status="completed", conclusion="success")
        repo = payloads[shas[n]]["repository"]["full_name"]
        event = check_run_event(github, "completed", repo, run["id"], sender="ci-bot")
        await harness.deliver(http, bot, "check_run", event, f"bench-ci-{n}")


async def rerun_all(
    env: harness.Env,
    bot: Any,
    http: aiohttp.ClientSession,
    payloads: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> int:
    """A writer clicks Re-run on every PR's check run, at the same rate; how many
    second validations were reviewed."""
    github = env.github
    ours = {r["head_sha"]: r["id"] for r in github.check_runs.values() if r["name"] == CHECK_NAME}
    shas = [sha for sha in payloads if sha in ours]
    async for n in harness.paced(args.rate, len(shas)):
        repo = payloads[shas[n]]["repository"]["full_name"]
        event = check_run_event(github, "rerequested", repo, ours[shas[n]], sender="maintainer")
        await harness.deliver(http, bot, "check_run", event, f"bench-rerun-{n}")
    return await harness.wait_count(
        bot.runtime.pool,
        "SELECT count(*) FROM validations WHERE review_id IS NOT NULL AND generation > 1",
        len(shas),
        args.drain_seconds,
    )


def report(
    args: argparse.Namespace,
    github: Any,
    payloads: dict[str, dict[str, Any]],
    accepted: dict[str, float],
    reviewed: int,
    rows: list[Any],
    log: harness.LogTally,
    first_round: int,
    rerun: int | None,
) -> None:
    everything = github.requests
    github.requests = everything[:first_round]  # the first validations' figures
    created: dict[str, float] = {}
    completed: dict[str, float] = {}
    review: dict[str, float] = {}
    annotation_patches: Counter[str] = Counter()
    for rec in github.requests:
        body = rec.json if isinstance(rec.json, dict) else {}
        if rec.route == "/repos/{owner}/{repo}/check-runs" and rec.method == "POST":
            if body.get("name") == CHECK_NAME and rec.status == 201:
                created.setdefault(body["head_sha"], rec.started_at)
                if body.get("status") == "completed":  # created with its verdict
                    completed.setdefault(body["head_sha"], rec.started_at)
        elif rec.route == "/repos/{owner}/{repo}/check-runs/{check_run_id}":
            if rec.method != "PATCH" or rec.status != 200:
                continue
            sha = github.check_runs[int(rec.path.rsplit("/", 1)[1])]["head_sha"]
            if (body.get("output") or {}).get("annotations"):
                annotation_patches[sha] += 1
            if body.get("status") == "completed":
                completed.setdefault(sha, rec.started_at)
        elif rec.route == "/repos/{owner}/{repo}/pulls/{pull_number}/reviews":
            if rec.method == "POST" and rec.status == 200:
                review.setdefault(body["commit_id"], rec.started_at)

    def since(moments: dict[str, float], only: set[str] | None = None) -> list[float]:
        return [
            (moments[s] - t) * 1000
            for s, t in accepted.items()
            if s in moments and (only is None or s in only)
        ]

    first = harness.FIRST_INSTALLATION

    total = len(accepted)
    calls, app_calls = harness.api_calls(github)
    finished = {(r["status"], r["conclusion"]): r["n"] for r in rows}
    print(
        f"validations: {total} PRs opened at {args.rate}/s over {args.seconds:.0f}s, "
        f"{args.repos} repositories/installations, write interval {args.write_interval}s; "
        f"completed with a review: {reviewed}"
    )
    print("  by status/conclusion: " + ", ".join(f"{s}/{c}: {k}" for (s, c), k in finished.items()))
    print(f"accepted -> check run created:   {latency(since(created))}")
    print(f"accepted -> check run completed: {latency(since(completed))}")
    print(f"accepted -> review posted:       {latency(since(review))}")
    if args.hot_share > 0:
        cold = {s for s, p in payloads.items() if p["installation"]["id"] != first}
        print(f"  PRs of the other repositories only ({len(cold)}):")
        print(f"  accepted -> check run created:   {latency(since(created, cold))}")
        print(f"  accepted -> check run completed: {latency(since(completed, cold))}")
        print(f"  accepted -> review posted:       {latency(since(review, cold))}")
    spread = Counter(annotation_patches.values())
    print(
        "PATCHes carrying annotations per validation: "
        + ", ".join(f"{k}: {v} validations" for k, v in sorted(spread.items()))
    )
    print(
        f"GitHub API calls per validation (installation token): {sum(calls.values()) / total:.1f}"
    )
    harness.print_calls(calls, total, app_calls)
    refused = Counter(
        f"{r.status} {r.method} {r.route}" for r in github.requests if r.status >= 400
    )
    print(f"GitHub answers >= 400: {sum(refused.values())} {dict(refused) or ''}".rstrip())
    github.requests = everything
    print(f"fake GitHub handler errors: {len(github.server_errors)}")
    print(f"bot log: {dict(log.counts) or 'no warnings or errors'}")
    for line in log.lines:
        print(f"  {line}")
    installations = len({p["installation"]["id"] for p in payloads.values()})
    mints = sum(
        1 for r in everything if r.route == "/app/installations/{installation_id}/access_tokens"
    )
    first_304 = sum(1 for r in everything[:first_round] if r.status == 304)
    figures = {
        "validations": total,
        "calls_per_validation": round(sum(calls.values()) / max(1, total), 2),
        "not_modified_per_validation": round(first_304 / max(1, total), 2),
        "token_mints": mints,
        "token_mints_per_installation": round(mints / max(1, installations), 2),
        "check_run_created_p50_ms": _p50(since(created)),
        "completed_p50_ms": _p50(since(completed)),
        "review_p50_ms": _p50(since(review)),
        "review_p99_ms": _p99(since(review)),
    }
    if rerun is not None:
        again = [r for r in everything[first_round:] if r.route and r.route[:4] != "/app"]
        not_modified = Counter(f"{r.method} {r.route}" for r in again if r.status == 304)
        print(
            f"Re-run of every PR (the same head again): {rerun} reviewed, "
            f"{len(again) / max(1, rerun):.1f} calls per validation (the clicker's permission "
            f"included), of them {not_modified.total() / max(1, rerun):.1f} answered 304:"
        )
        harness.print_calls(Counter(f"{r.method} {r.route}" for r in again), rerun, 0)
        for route, count in not_modified.most_common():
            print(f"  304: {count / max(1, rerun):5.2f}  {route}")
        figures["rerun_calls_per_validation"] = round(len(again) / max(1, rerun), 2)
        figures["rerun_not_modified_per_validation"] = round(
            not_modified.total() / max(1, rerun), 2
        )
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


def _p50(values: list[float]) -> float:
    return round(harness.pct(values, 50), 1) if values else float("nan")


def _p99(values: list[float]) -> float:
    return round(harness.pct(values, 99), 1) if values else float("nan")


if __name__ == "__main__":
    parser = harness.arguments(__doc__, "opened PRs", 0.5)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=180.0,
        help="after the last delivery, how long to wait for every review at most",
    )
    parser.add_argument(
        "--hot-share",
        type=float,
        default=0.0,
        help="share of the PRs opened on the first repository (0: round robin over all)",
    )
    parser.add_argument(
        "--ci-running",
        action="store_true",
        help="each PR's CI still runs when it is opened; it passes once every PR waits for it",
    )
    parser.add_argument(
        "--no-rerun",
        dest="rerun",
        action="store_false",
        help="skip the second validation of every PR (Re-run) and its 304 count",
    )
    asyncio.run(main(parser.parse_args()))
