"""Memory under load (issue 15, target 5): the resident set of `codegen-bot serve`
while 100,000 signed deliveries go through it, and of a `--role worker` process
while it does 10,000 validations; each sampled every second.

1. **serve**: one `codegen-bot serve` (web and worker in one process, as `make
   run` starts it) on a fresh embedded PostgreSQL, its GitHub the tests' fake
   in this process; wrk through `benchmarks/reference/run-webhook-load.sh` posts
   the intake's 12 KB `issues.labeled` delivery (as `run.sh`) in rounds until
   `--deliveries` are stored. The worker handles them meanwhile.
2. **bare**: the anchor, `benchmarks/bare_receiver.py` under the same wrk load
   for one round: what aiohttp alone holds.
3. **worker**: `--validations` `pull_request.opened` deliveries (the PRs of
   `benchmarks/validation_latency.py`: 6 files, CI finished, a quarter with 60
   TODOs) stored with their jobs, then one `--role worker` process validates
   them against the fake GitHub (`GITHUB_WRITE_INTERVAL=0`).

RSS is VmRSS from /proc/<pid>/status of the process plus its descendants that
are ours (the `app.cpu` worker processes), never PostgreSQL's. Reported: start
(the first sample under load), peak, end, and the least-squares slope over the
second half of the run, with the growth it amounts to over that half (flat:
|growth| <= 2 MiB). Loopback only; everything is removed on exit.

    .venv/bin/python benchmarks/memory.py                 # ~10 min
    .venv/bin/python benchmarks/memory.py --quick         # 20,000 deliveries, 1,000 validations
    .venv/bin/python benchmarks/memory.py --only serve --tracemalloc 20

`--tracemalloc N` is for finding a leak: the serve process traces its
allocations from the start (a `sitecustomize` on its PYTHONPATH, app is not
touched), takes a snapshot after `--tracemalloc-after` seconds and, at the end
of the load, prints the N allocation sites that grew most since then.

The last line is `RESULT serve_start_mib=... serve_peak_mib=... ...` for
`benchmarks/bench.py`. Exit status 0 when the runs ran (a missed target is in
the figures), 1 when one failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

FLAT_MIB = 2.0  # |growth over the second half| at most this: flat
SERVE_LIMIT_MIB = 80.0


# --------------------------------------------------------------------------- pure parts


@dataclasses.dataclass(frozen=True)
class Summary:
    """A run's RSS samples (seconds, MiB) read as the targets need them."""

    start: float
    peak: float
    end: float
    slope_mib_per_min: float
    growth_mib: float  # the slope over the second half's length
    samples: int

    @property
    def flat(self) -> bool:
        return abs(self.growth_mib) <= FLAT_MIB


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0 with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def summarize(samples: Sequence[tuple[float, float]]) -> Summary:
    """Start, peak and end of (seconds, MiB) samples, and the slope of the second
    half of the time they span (the first is warm-up: imports, pools, caches
    filling), per minute and times that half's length."""
    if not samples:
        raise ValueError("no samples")
    first, last = samples[0][0], samples[-1][0]
    middle = (first + last) / 2
    half = [(t, mib) for t, mib in samples if t >= middle]
    per_second = slope(half)
    return Summary(
        start=samples[0][1],
        peak=max(mib for _, mib in samples),
        end=samples[-1][1],
        slope_mib_per_min=per_second * 60,
        growth_mib=per_second * (last - middle),
        samples=len(samples),
    )


def parse_status_rss(text: str) -> int | None:
    """VmRSS in KiB from the text of /proc/<pid>/status (None: no such line, as
    for a zombie)."""
    found = re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def descendants(parents: dict[int, int], root: int) -> list[int]:
    """Every pid below `root` in a pid -> parent pid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def result_line(figures: dict[str, float]) -> str:
    """`RESULT k=v ...` for benchmarks/bench.py, two decimals."""
    return "RESULT " + " ".join(f"{k}={v:.2f}" for k, v in figures.items())


# --------------------------------------------------------------------------- /proc


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        out[int(entry)] = (ppid, comm)
    return out


def rss_parts(pid: int) -> str:
    """`anonymous X + file-backed Y MiB` of one process (file-backed: shared
    libraries' pages, shared with every process that maps them)."""
    text = _read(f"/proc/{pid}/status") or ""
    anon = re.search(r"^RssAnon:\s+(\d+)", text, re.MULTILINE)
    file = re.search(r"^RssFile:\s+(\d+)", text, re.MULTILINE)
    if not anon or not file:
        return "gone"
    anon_mib, file_mib = int(anon.group(1)) / 1024, int(file.group(1)) / 1024
    return f"anonymous {anon_mib:.1f} + file-backed {file_mib:.1f} MiB"


def tree_rss_mib(pid: int) -> tuple[float, float] | None:
    """(the process's RSS, its non-PostgreSQL descendants' RSS) in MiB; None when
    the process is gone."""
    own = parse_status_rss(_read(f"/proc/{pid}/status") or "")
    if own is None:
        return None
    table = process_table()
    kids = 0
    for child in descendants({p: pp for p, (pp, _) in table.items()}, pid):
        if table[child][1].startswith(("postgres", "pg_ctl", "initdb")):
            continue
        kids += parse_status_rss(_read(f"/proc/{child}/status") or "") or 0
    return own / 1024, kids / 1024


# --------------------------------------------------------------------------- the runs


async def sample_until(pid: int, stop: object, into: list[tuple[float, float, float]]) -> None:
    """Every second until `stop` (an asyncio.Event) is set: (monotonic time, own
    MiB, descendants MiB) of `pid` appended to `into`."""
    import asyncio
    import contextlib
    import time

    assert isinstance(stop, asyncio.Event)
    while not stop.is_set():
        rss = tree_rss_mib(pid)
        if rss is not None:
            into.append((time.monotonic(), *rss))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def totals(raw: Sequence[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """(seconds since the first sample, own + descendants MiB)."""
    if not raw:
        return []
    t0 = raw[0][0]
    return [(t - t0, own + kids) for t, own, kids in raw]


def describe(name: str, summary: Summary, extra: str = "") -> str:
    return (
        f"{name}: start {summary.start:.1f} MiB, peak {summary.peak:.1f}, end {summary.end:.1f}; "
        f"2nd half slope {summary.slope_mib_per_min:+.3f} MiB/min = {summary.growth_mib:+.2f} MiB "
        f"({'flat' if summary.flat else 'GROWING'}; {summary.samples} samples){extra}"
    )


async def serve_run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import asyncio
    import json
    import time

    import processes

    from tests.support.processes import Fleet, env_for

    async with processes.postgres() as (pg, _):
        dsn = await processes.fresh_database(pg, "memory_serve")
        async with processes.fake_github(0.0) as github:
            payload = json.loads(processes.LABELED_BODY.read_text())
            github.add_installation(payload["installation"]["id"], account="Codertocat")
            github.add_repo(
                payload["repository"]["full_name"], installation_id=payload["installation"]["id"]
            )
            log_dir = tmp / "serve"
            log_dir.mkdir()
            extra = {}
            if args.tracemalloc:
                extra = tracemalloc_env(log_dir, args.tracemalloc, args.tracemalloc_after)
            elif args.as_image:
                extra = hook_env(log_dir, AS_IMAGE_HOOK)
            env = env_for(dsn, github.url, LOG_LEVEL="WARNING", **extra)
            async with Fleet(env, log_dir) as fleet:
                member = await fleet.start_one(args.role)
                raw: list[tuple[float, float, float]] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_until(member.pid, stop, raw))
                started, stored, rounds = time.monotonic(), 0, 0
                while stored < args.deliveries and time.monotonic() - started < 1800:
                    await processes.wrk(
                        member.webhook_url,
                        processes.LABELED_BODY,
                        "issues",
                        f"{args.round_seconds}s",
                        args.connections,
                        2,
                    )
                    rounds += 1
                    stored = await processes.count(dsn, "SELECT count(*) FROM webhook_deliveries")
                    print(f"  serve: {stored} deliveries stored after {rounds} rounds", flush=True)
                seconds = time.monotonic() - started
                stop.set()
                await sampler
                parts = rss_parts(member.pid)
                if args.tracemalloc:
                    os.kill(member.pid, 12)  # SIGUSR2: write the allocation growth
                    await asyncio.sleep(5)
                    text = member.log.read_text(errors="replace")
                    print(text[text.rfind("tracemalloc: growth") :], flush=True)
                done = await processes.count(dsn, "SELECT count(*) FROM jobs WHERE status = 'done'")
                errors = fleet.errors()
    summary = summarize(totals(raw))
    own = summarize([(t, o) for t, o, _ in totals3(raw)])
    print(
        describe(
            f"serve --role {args.role}{' as in the image' if args.as_image else ''} "
            "(process + cpu workers)",
            summary,
            f"; the process alone: peak {own.peak:.1f}, growth {own.growth_mib:+.2f} MiB, "
            f"at the end {parts}",
        )
    )
    print(
        f"  {stored} deliveries stored in {seconds:.0f} s ({stored / seconds:.0f}/s), "
        f"{done} jobs done meanwhile, {len(errors)} ERROR lines in its log"
    )
    for line in errors[:5]:
        print(f"  {line}")
    return {
        "serve_start_mib": summary.start,
        "serve_peak_mib": summary.peak,
        "serve_end_mib": summary.end,
        "serve_slope_mib_per_min": summary.slope_mib_per_min,
        "serve_growth_mib": summary.growth_mib,
        "serve_deliveries": stored,
    }


def totals3(raw: Sequence[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    t0 = raw[0][0] if raw else 0.0
    return [(t - t0, own, kids) for t, own, kids in raw]


async def bare_run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import asyncio
    import sys

    import processes

    from tests.support.bot import WEBHOOK_SECRET
    from tests.support.serve import free_port

    port = free_port()
    log = (tmp / "bare.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("bare_receiver.py")),
        "--port",
        str(port),
        env={**os.environ, "WEBHOOK_SECRET": WEBHOOK_SECRET},
        stdout=log,
        stderr=log,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/github/webhooks"
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        raw: list[tuple[float, float, float]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_until(proc.pid, stop, raw))
        await processes.wrk(
            url, processes.LABELED_BODY, "issues", f"{args.round_seconds * 2}s", args.connections, 2
        )
        stop.set()
        await sampler
    finally:
        proc.terminate()
        await proc.wait()
        log.close()
    summary = summarize(totals(raw))
    print(describe("bare receiver (anchor)", summary))
    return {"bare_peak_mib": summary.peak}


ROLES = ("web", "worker", "all")
# What a serve process may load only on first use (benchmarks/README.md).
DEFERRED = ("pydantic", "app.api.routes", "swagger_ui_bundle", "jinja2")


async def startup_run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """Each role's process idle after start-up: RSS (anonymous + file-backed),
    thread count, whether each of `DEFERRED` is loaded (a `sitecustomize` lists
    them on SIGUSR2), and whether any `app.cpu` process started."""
    import asyncio

    import processes

    from tests.support.processes import Fleet, env_for

    figures = {}
    async with processes.postgres() as (pg, _):
        dsn = await processes.fresh_database(pg, "memory_startup")
        async with processes.fake_github(0.0) as github:
            for role in ROLES:
                log_dir = tmp / f"startup-{role}"
                log_dir.mkdir()
                extra = hook_env(log_dir, (AS_IMAGE_HOOK if args.as_image else "") + MODULES_HOOK)
                env = env_for(dsn, github.url, LOG_LEVEL="WARNING", **extra)
                async with Fleet(env, log_dir) as fleet:
                    member = await fleet.start_one(role)
                    await asyncio.sleep(args.settle)
                    own, kids = tree_rss_mib(member.pid) or (0.0, 0.0)
                    threads = len(os.listdir(f"/proc/{member.pid}/task"))
                    os.kill(member.pid, 12)  # SIGUSR2: list the deferred modules loaded
                    await asyncio.sleep(1)
                    text = member.log.read_text(errors="replace")
                    loaded = text[text.rfind("modules loaded:") :].splitlines()[0]
                    print(
                        f"start-up, --role {role}{' as in the image' if args.as_image else ''}: "
                        f"{own:.1f} MiB ({rss_parts(member.pid)}), {threads} threads, "
                        f"app.cpu processes {kids:.1f} MiB; {loaded}",
                        flush=True,
                    )
                    figures[f"startup_{role}_mib"] = own + kids
    return figures


MODULES_HOOK = f"""
import signal, sys
def _loaded(*_):
    found = [m for m in {DEFERRED!r} if m in sys.modules]
    print("modules loaded: " + (", ".join(found) or "none of " + ", ".join({DEFERRED!r})),
          file=sys.stderr, flush=True)
signal.signal(signal.SIGUSR2, _loaded)
"""


WAVE = 500  # PRs seeded and stored at a time in the worker run


def forget_check_runs(github: object, shas: set[str]) -> None:
    """Drop the fake GitHub's check runs on these head commits."""
    runs: dict = github.check_runs  # type: ignore[attr-defined]
    repo_of: dict = github._check_run_repo  # type: ignore[attr-defined]
    for rid in [rid for rid, run in runs.items() if run["head_sha"] in shas]:
        del runs[rid]
        repo_of.pop(rid, None)


async def worker_run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import asyncio
    import json
    import time
    import uuid

    import asyncpg
    import processes
    import validation_latency

    from app.deliveries.store import IncomingDelivery, insert_batch
    from tests.support.processes import Fleet, env_for

    async with processes.postgres() as (pg, _):
        dsn = await processes.fresh_database(pg, "memory_worker")
        async with processes.fake_github(0.0) as github:
            repos = []
            for i in range(20):
                repo = f"bench-org-{i}/app"
                github.add_installation(1000 + i, account=f"bench-org-{i}")
                github.add_repo(repo, installation_id=1000 + i)
                github.set_file(repo, "README.md", "# App\n")
                github.set_file(repo, ".github/codegen.yml", validation_latency.CONFIG)
                repos.append(repo)
            log_dir = tmp / "worker"
            log_dir.mkdir()
            env = env_for(
                dsn,
                github.url,
                LOG_LEVEL="WARNING",
                MAX_CONCURRENT_WORKFLOWS="10",
                GITHUB_WRITE_INTERVAL="0",
            )
            query = "SELECT count(*) FROM validations WHERE review_id IS NOT NULL"

            async def add_wave(first: int) -> set[str]:
                """Seed and store PRs first .. first+WAVE-1; their head shas."""
                shas, deliveries = set(), []
                for n in range(first, min(first + WAVE, args.validations)):
                    payload = validation_latency.seed_pull(github, repos[n % 20], 1000 + n, n)
                    shas.add(payload["pull_request"]["head"]["sha"])
                    body = json.dumps(payload).encode()
                    deliveries.append(
                        IncomingDelivery(
                            str(uuid.uuid4()), "pull_request", "opened", 1000 + n % 20, body
                        )
                    )
                conn = await asyncpg.connect(dsn)
                try:
                    await insert_batch(conn, deliveries, 8)
                finally:
                    await conn.close()
                return shas

            async with Fleet(env, log_dir) as fleet:
                waves = [await add_wave(0)]
                member = await fleet.start_one("worker")
                raw: list[tuple[float, float, float]] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_until(member.pid, stop, raw))
                started = moved = last_print = time.monotonic()
                reviewed, seeded = 0, len(waves[0])
                # Until every PR is reviewed, or nothing moved for 2 minutes. The PRs
                # come in waves, at most two outstanding, and a reviewed wave's check
                # runs leave the fake GitHub: it lists check runs by sorting all of
                # them, which at 20,000 would make it, not the bot, the bottleneck.
                while reviewed < args.validations and time.monotonic() - moved < 120:
                    if seeded < args.validations and reviewed >= seeded - WAVE:
                        waves.append(await add_wave(seeded))
                        seeded += len(waves[-1])
                    await asyncio.sleep(1.0)
                    now = await processes.count(dsn, query)
                    if now > reviewed:
                        reviewed, moved = now, time.monotonic()
                    while len(waves) > 1 and reviewed >= seeded - len(waves[-1]):
                        forget_check_runs(github, waves.pop(0))
                    if time.monotonic() - last_print > 30:
                        last_print = time.monotonic()
                        print(f"  worker: {reviewed} validations reviewed", flush=True)
                seconds = time.monotonic() - started
                stop.set()
                await sampler
                dead = await processes.count(dsn, "SELECT count(*) FROM jobs WHERE status = 'dead'")
                errors = fleet.errors()
    summary = summarize(totals(raw))
    own = summarize([(t, o) for t, o, _ in totals3(raw)])
    kids = raw[-1][2] if raw else 0.0
    print(
        describe(
            "worker (process + cpu workers)",
            summary,
            f"; the process alone: peak {own.peak:.1f}; its app.cpu processes at the end "
            f"{kids:.1f} MiB",
        )
    )
    print(
        f"  {reviewed} of {args.validations} PRs validated and reviewed in {seconds:.0f} s "
        f"({reviewed / seconds:.1f}/s), {dead} dead jobs, {len(errors)} ERROR lines in its log"
    )
    for line in errors[:5]:
        print(f"  {line}")
    return {
        "worker_start_mib": summary.start,
        "worker_peak_mib": summary.peak,
        "worker_end_mib": summary.end,
        "worker_slope_mib_per_min": summary.slope_mib_per_min,
        "worker_growth_mib": summary.growth_mib,
        "worker_validations": reviewed,
    }


TRACE_HOOK = """
import faulthandler, os, signal, sys, threading, time, tracemalloc
if os.environ.get("BENCH_TRACEMALLOC"):
    top = int(os.environ["BENCH_TRACEMALLOC"])
    tracemalloc.start(10)
    state = {}
    def _baseline():
        time.sleep(float(os.environ.get("BENCH_TRACEMALLOC_AFTER", "60")))
        state["base"] = tracemalloc.take_snapshot()
        print(f"tracemalloc: baseline taken", file=sys.stderr, flush=True)
    threading.Thread(target=_baseline, daemon=True).start()
    def _dump(*_):
        now = tracemalloc.take_snapshot()
        base = state.get("base") or now
        print("tracemalloc: growth since the baseline, by traceback", file=sys.stderr)
        for stat in now.compare_to(base, "traceback")[:top]:
            kib, blocks = stat.size_diff / 1024, stat.count_diff
            print(f"  {kib:+.0f} KiB {blocks:+d} blocks", file=sys.stderr)
            for line in stat.traceback.format()[-8:]:
                print(f"    {line}", file=sys.stderr)
        sys.stderr.flush()
    signal.signal(signal.SIGUSR2, _dump)
"""


# The development virtualenv has click, rich and pygments (test tools need them);
# the image (requirements.lock) does not, and with them httpx also loads its
# command-line interface: 4.2 MiB. `--as-image` hides them from serve.
AS_IMAGE_HOOK = """
import sys
for name in ("click", "rich", "pygments"):
    sys.modules[name] = None
"""


def hook_env(log_dir: Path, code: str) -> dict[str, str]:
    """Environment for a serve process that runs `code` first (a `sitecustomize`
    on its PYTHONPATH; app is not touched)."""
    hook = log_dir / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(code)
    root = str(Path(__file__).resolve().parent.parent)
    return {"PYTHONPATH": f"{hook}:{root}"}


def tracemalloc_env(log_dir: Path, top: int, after: float) -> dict[str, str]:
    """Environment for a serve process that traces allocations from its start,
    takes a baseline after `after` seconds and writes the top `top` growths on SIGUSR2."""
    return {
        **hook_env(log_dir, TRACE_HOOK),
        "BENCH_TRACEMALLOC": str(top),
        "BENCH_TRACEMALLOC_AFTER": str(after),
    }


def machine() -> str:
    import platform

    model = "?"
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, {model}, Python {platform.python_version()}, load {load}"


async def main(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    print(f"machine: {machine()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    figures: dict[str, float] = {}
    failed = []
    try:
        runs = (("startup", startup_run), ("serve", serve_run), ("bare", bare_run))
        for name, run in (*runs, ("worker", worker_run)):
            if (args.only and name not in args.only) or (name == "startup" and not args.only):
                continue
            try:
                figures.update(await run(args, tmp))
            except Exception as exc:  # report and go on: the other runs still count
                failed.append(name)
                print(f"{name} run failed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine after: {machine()}")
    if "serve_peak_mib" in figures:
        met = (
            figures["serve_peak_mib"] <= SERVE_LIMIT_MIB
            and abs(figures["serve_growth_mib"]) <= FLAT_MIB
        )
        print(f"serve: <= {SERVE_LIMIT_MIB:g} MiB and flat: {'met' if met else 'MISSED'}")
    if "worker_growth_mib" in figures:
        flat = abs(figures["worker_growth_mib"]) <= FLAT_MIB
        print(f"worker: flat: {'met' if flat else 'MISSED'}")
    print(result_line(figures))
    return 1 if failed else 0


if __name__ == "__main__":
    import asyncio
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness  # noqa: F401  (puts the repository on sys.path for `app` and `tests`)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 deliveries, 1,000 validations")
    parser.add_argument("--only", action="append", choices=["startup", "serve", "bare", "worker"])
    parser.add_argument("--deliveries", type=int, default=None, help="default 100,000")
    parser.add_argument("--validations", type=int, default=None, help="default 10,000")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--role", default="all", choices=["all", "web"], help="of serve")
    parser.add_argument("--round-seconds", type=int, default=5, help="wrk run between counts")
    parser.add_argument("--tracemalloc", type=int, default=0, help="top N growths into serve's log")
    parser.add_argument(
        "--as-image", action="store_true", help="serve without the dev-only click, rich, pygments"
    )
    parser.add_argument("--tracemalloc-after", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="startup: seconds idle before the sample"
    )
    arguments = parser.parse_args()
    if arguments.deliveries is None:
        arguments.deliveries = 20_000 if arguments.quick else 100_000
    if arguments.validations is None:
        arguments.validations = 1_000 if arguments.quick else 10_000
    sys.exit(asyncio.run(main(arguments)))
