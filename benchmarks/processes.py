"""Past one process, measured: real `codegen-bot serve` processes on one
embedded PostgreSQL, against the tests' fake GitHub (with a network-like
latency) in this process.

1. **workers**: jobs per second with 1 and with 2 `--role worker` processes on
   an I/O-bound mix: `/codegen help` comments spread over 20 installations
   (each job: a permission read, a config read, the marker search, a reaction
   and a reply, every GitHub answer `--latency` late). The deliveries and their
   jobs are stored first; the clock runs from the workers' start to the last
   job done. The ratio is the figure (target: 2 workers >= 1.6x one).
2. **intake**: requests per second with 1 and with 2 `--role web` processes,
   wrk through `benchmarks/reference/run-webhook-load.sh` as `run.sh` does;
   with 2, one wrk per process (half the connections, one thread each), the
   rates added.
3. **rss**: 2 web and 2 worker processes while `--deliveries` (100,000)
   cheap deliveries go through the webs (wrk) and the workers handle them;
   VmRSS of each process from /proc/<pid>/status every second. Flat means the
   last quarter's mean is within 10 % of the second quarter's (the first is
   warm-up); a web process must stay under 80 MiB.

    .venv/bin/python benchmarks/processes.py                       # all three
    .venv/bin/python benchmarks/processes.py --only workers --jobs 3000

Loopback only; the database and the fakes are removed on exit. Exit status 1
when a target is missed or a run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import EmbeddedPostgres, ensure_database  # noqa: E402
from app.deliveries.store import IncomingDelivery, insert_batch  # noqa: E402
from app.migrations import migrate  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.keys import make_app_key  # noqa: E402
from tests.support.bot import APP_ID, APP_SLUG, WEBHOOK_SECRET  # noqa: E402
from tests.support.events import issue_comment_event  # noqa: E402
from tests.support.processes import Fleet, env_for, rss_kib  # noqa: E402

LOAD = ROOT / "benchmarks" / "reference" / "run-webhook-load.sh"
LABELED_BODY = ROOT / "benchmarks" / "reference" / "issues-labeled-with-installation.json"
INSTALLATIONS = 20
WRITER = "maintainer"
WEB_RSS_LIMIT_MIB = 80.0


# ------------------------------------------------------------------ set-up


@contextlib.asynccontextmanager
async def postgres() -> AsyncIterator[tuple[EmbeddedPostgres, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-processes-"))
    pg = EmbeddedPostgres(tmp)
    await asyncio.to_thread(pg.start)
    try:
        yield pg, tmp
    finally:
        await asyncio.to_thread(pg.stop)
        shutil.rmtree(tmp, ignore_errors=True)


async def fresh_database(pg: EmbeddedPostgres, name: str) -> str:
    await ensure_database(pg.uri("postgres"), name)
    conn = await asyncpg.connect(pg.uri(name))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return pg.uri(name)


@contextlib.asynccontextmanager
async def fake_github(latency: float) -> AsyncIterator[FakeGitHub]:
    """GitHub with every answer `latency` late, and no content or rate limit in
    the way (the benchmark measures the bot, not GitHub's limits)."""
    _, public_pem = make_app_key()
    github = FakeGitHub(
        app_id=APP_ID,
        public_key_pem=public_pem,
        app_slug=APP_SLUG,
        latency=latency,
        content_creation_per_minute=1_000_000,
        rate_limit=10_000_000,
        max_concurrent_requests=10_000,
    )
    await github.start()
    try:
        yield github
    finally:
        await github.close()


def seed_help_comments(github: FakeGitHub, jobs: int) -> list[IncomingDelivery]:
    """`jobs` `/codegen help` comments by a writer, over 20 installations, each
    on its own issue (so each marker search reads a short list)."""
    out = []
    for i in range(INSTALLATIONS):
        repo = f"bench-{i:02d}/app"
        github.add_installation(9000 + i, account=f"bench-{i:02d}")
        github.add_repo(repo, installation_id=9000 + i)
        github.set_permission(repo, WRITER, "write")
    for n in range(jobs):
        repo = f"bench-{n % INSTALLATIONS:02d}/app"
        number = 1 + n // INSTALLATIONS
        github.add_issue(repo, number, title=f"Issue {number}", user="reporter")
        payload = issue_comment_event(github, "created", repo, number, "/codegen help", user=WRITER)
        body = json.dumps(payload).encode()
        out.append(
            IncomingDelivery(
                str(uuid.uuid4()), "issue_comment", "created", 9000 + n % INSTALLATIONS, body
            )
        )
    return out


async def count(dsn: str, query: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


# ------------------------------------------------------------------ 1. workers


async def workers_run(
    pg: EmbeddedPostgres, tmp: Path, processes: int, jobs: int, latency: float, concurrency: int
) -> dict:
    name = f"workers_{processes}_{uuid.uuid4().hex[:6]}"
    dsn = await fresh_database(pg, name)
    async with fake_github(latency) as github:
        deliveries = seed_help_comments(github, jobs)
        conn = await asyncpg.connect(dsn)
        try:
            for k in range(0, len(deliveries), 500):
                await insert_batch(conn, deliveries[k : k + 500], 8)
        finally:
            await conn.close()
        log_dir = tmp / name
        log_dir.mkdir()
        env = env_for(
            dsn,
            github.url,
            LOG_LEVEL="WARNING",
            MAX_CONCURRENT_WORKFLOWS=str(concurrency),
            GITHUB_WRITE_INTERVAL="0",
        )
        async with Fleet(env, log_dir) as fleet:
            # The clock starts once every process answers /health (start-up is
            # not the figure); jobs done before that are left out of the rate.
            await fleet.start(workers=processes)
            ready = time.monotonic()
            done_query = (
                "SELECT count(*) FROM jobs WHERE kind = 'delivery' AND status IN ('done', 'dead')"
            )
            done_at_ready = await count(dsn, done_query)
            deadline = ready + 600
            while time.monotonic() < deadline:
                if await count(dsn, done_query) >= jobs:
                    break
                await asyncio.sleep(0.1)
            finished = time.monotonic()
            dead = await count(dsn, "SELECT count(*) FROM jobs WHERE status = 'dead'")
            replies = len(github.calls("POST", r"/issues/\d+/comments$"))
    seconds = finished - ready
    return {
        "processes": processes,
        "jobs": jobs,
        "seconds": seconds,
        "jobs_per_s": (jobs - done_at_ready) / seconds,
        "dead": dead,
        "replies": replies,
    }


# ------------------------------------------------------------------ 2. intake


def parse_load(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}


async def wrk(
    url: str, body: Path, event: str, duration: str, connections: int, threads: int
) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        str(LOAD),
        url,
        WEBHOOK_SECRET,
        str(body),
        event,
        duration,
        str(connections),
        env={**os.environ, "THREADS": str(threads)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load script failed ({proc.returncode}): {out.decode()[-500:]}")
    return parse_load(lines[-1])


async def intake_run(
    pg: EmbeddedPostgres, tmp: Path, processes: int, duration: str, connections: int
) -> dict:
    name = f"intake_{processes}_{uuid.uuid4().hex[:6]}"
    dsn = await fresh_database(pg, name)
    log_dir = tmp / name
    log_dir.mkdir()
    env = env_for(dsn, "http://127.0.0.1:9", LOG_LEVEL="WARNING")
    async with Fleet(env, log_dir) as fleet:
        webs = await fleet.start(webs=processes)
        each = max(1, connections // processes)
        threads = 2 if processes == 1 else 1
        await asyncio.gather(
            *(wrk(w.webhook_url, LABELED_BODY, "issues", "2s", each, threads) for w in webs)
        )
        results = await asyncio.gather(
            *(wrk(w.webhook_url, LABELED_BODY, "issues", duration, each, threads) for w in webs)
        )
        stored = await count(dsn, "SELECT count(*) FROM webhook_deliveries")
    ok = sum(r["responses"] - r["non2xx"] for r in results)
    return {
        "processes": processes,
        "rps": sum(r["rps"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "non2xx": int(sum(r["non2xx"] for r in results)),
        "stored_at_least_2xx": stored >= ok,
        "each_rps": [round(r["rps"]) for r in results],
    }


# ------------------------------------------------------------------ 3. rss


async def rss_run(
    pg: EmbeddedPostgres, tmp: Path, deliveries: int, connections: int, latency: float
) -> dict:
    dsn = await fresh_database(pg, "rss")
    log_dir = tmp / "rss"
    log_dir.mkdir()
    async with fake_github(latency) as github:
        # A cheap event the workers handle without GitHub (no handler: ignored),
        # so they keep up and their memory is measured at work.
        github.add_installation(9000, account="bench-00")
        github.add_repo("bench-00/app", installation_id=9000)
        opened = json.loads(LABELED_BODY.read_text())
        opened["action"] = "opened"
        opened.pop("label", None)
        body = log_dir / "issues-opened.json"
        body.write_text(json.dumps(opened))
        env = env_for(dsn, github.url, LOG_LEVEL="WARNING")
        samples: dict[str, list[float]] = {}
        async with Fleet(env, log_dir) as fleet:
            members = await fleet.start(webs=2, workers=2)
            stop = asyncio.Event()

            async def sample() -> None:
                while not stop.is_set():
                    for m in members:
                        kib = rss_kib(m.pid)
                        if kib is not None:
                            samples.setdefault(m.name, []).append(kib / 1024)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)

            sampler = asyncio.create_task(sample())
            started = time.monotonic()
            stored = 0
            while stored < deliveries and time.monotonic() - started < 1800:
                await asyncio.gather(
                    *(
                        wrk(w.webhook_url, body, "issues", "5s", connections // 2, 1)
                        for w in fleet.webs
                    )
                )
                stored = await count(dsn, "SELECT count(*) FROM webhook_deliveries")
            stop.set()
            await sampler
            processed = await count(dsn, "SELECT count(*) FROM jobs WHERE status = 'done'")
    per_process = {}
    for name, values in samples.items():
        q = max(1, len(values) // 4)
        second, last = statistics.mean(values[q : 2 * q]), statistics.mean(values[-q:])
        per_process[name] = {
            "start_mib": values[0],
            "max_mib": max(values),
            "end_mib": values[-1],
            "growth_pct": (last - second) / second * 100,
        }
    return {
        "deliveries": stored,
        "processed": processed,
        "seconds": time.monotonic() - started,
        "per_process": per_process,
    }


# ------------------------------------------------------------------ report


def machine() -> str:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (
        f"nproc {os.cpu_count()}, {model}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


async def main(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    ok = True
    async with postgres() as (pg, tmp):
        if args.only in (None, "workers"):
            runs = [
                await workers_run(pg, tmp, n, args.jobs, args.latency, args.concurrency)
                for n in (1, 2)
            ]
            for r in runs:
                print(
                    f"workers={r['processes']}: {r['jobs']} jobs in {r['seconds']:.1f} s = "
                    f"{r['jobs_per_s']:.1f} jobs/s (dead {r['dead']}, replies {r['replies']})"
                )
            ratio = runs[1]["jobs_per_s"] / runs[0]["jobs_per_s"]
            print(f"workers ratio 2/1: {ratio:.2f} (target >= 1.6)")
            ok &= ratio >= 1.6 and all(r["dead"] == 0 for r in runs)
        if args.only in (None, "intake"):
            runs = [await intake_run(pg, tmp, n, args.duration, args.connections) for n in (1, 2)]
            for r in runs:
                print(
                    f"webs={r['processes']}: {r['rps']:.0f} rps, p99 {r['p99_ms']:.1f} ms, "
                    f"non2xx {r['non2xx']}, every 2xx stored: {r['stored_at_least_2xx']} "
                    f"(per process: {r['each_rps']})"
                )
            print(f"intake ratio 2/1: {runs[1]['rps'] / runs[0]['rps']:.2f}")
            ok &= all(r["stored_at_least_2xx"] for r in runs)
        if args.only in (None, "rss"):
            r = await rss_run(pg, tmp, args.deliveries, args.connections, args.latency)
            print(
                f"rss: {r['deliveries']} deliveries stored in {r['seconds']:.0f} s, "
                f"{r['processed']} jobs done meanwhile"
            )
            for name, v in sorted(r["per_process"].items()):
                print(
                    f"  {name}: start {v['start_mib']:.1f} MiB, max {v['max_mib']:.1f}, "
                    f"end {v['end_mib']:.1f}, last vs second quarter {v['growth_pct']:+.1f} %"
                )
                flat = abs(v["growth_pct"]) <= 10
                under = not name.startswith("web") or v["max_mib"] < WEB_RSS_LIMIT_MIB
                ok &= flat and under
    print(f"machine after: {machine()}")
    print("targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["workers", "intake", "rss"])
    parser.add_argument("--jobs", type=int, default=600, help="jobs per workers run")
    parser.add_argument("--latency", type=float, default=0.1, help="fake GitHub's answer delay, s")
    parser.add_argument("--concurrency", type=int, default=5, help="MAX_CONCURRENT_WORKFLOWS")
    parser.add_argument("--duration", default="10s", help="measured wrk run per intake setting")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections in all")
    parser.add_argument("--deliveries", type=int, default=100_000, help="for the RSS run")
    sys.exit(asyncio.run(main(parser.parse_args())))
