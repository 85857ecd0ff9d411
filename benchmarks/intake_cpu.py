"""Where the intake's CPU goes: CPU time per delivery of the bot's process and
of its PostgreSQL, while wrk loads it as `run.sh` does.

Starts `codegen-bot serve --role ROLE` on a fresh embedded PostgreSQL (or on
`--dsn`, a server you started), warms up, then reads utime + stime from
/proc/<pid>/stat of the bot and of every `postgres` process before and after
one measured wrk run (`benchmarks/reference/run-webhook-load.sh`), and divides
by the deliveries answered. Also the whole machine's busy share
(/proc/stat), since wrk and other jobs take the rest. With `--profile` the bot
runs under cProfile and the functions with the most own time are printed
(cProfile slows the bot down: compare its figures only with each other).

    .venv/bin/python benchmarks/intake_cpu.py [--role web|all] [--seconds 8] [--profile]
        [--bot OTHER_CHECKOUT/.venv/bin/codegen-bot]

With `--role all` it also says how many jobs the worker ran during the
measured run (from the queue depth /health reports before and after it):
the worker in the process defers to a busy intake (app/queue/worker.py).

Loopback only; the data folder is temporary and removed on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "benchmarks" / "reference" / "run-webhook-load.sh"
BODY = ROOT / "benchmarks" / "reference" / "issues-labeled-with-installation.json"
SECRET = "intake-cpu-benchmark"
HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(bot_pid: int) -> dict[str, int]:
    """utime + stime by group: the bot, PostgreSQL, everything else."""
    totals = {"bot": 0, "postgres": 0, "other": 0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        group = (
            "bot"
            if int(entry) == bot_pid
            else "postgres"
            if name.startswith(("postgres", "postmaster"))
            else "other"
        )
        totals[group] += ticks
    return totals


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def wait_healthy(port: int, bot: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if bot.poll() is not None:
            raise SystemExit("codegen-bot exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("codegen-bot did not become healthy")


def queue_depth(port: int) -> int | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return json.loads(r.read()).get("queue_depth")


def load(port: int, seconds: str, connections: int) -> str:
    url = f"http://127.0.0.1:{port}/api/github/webhooks"
    cmd = [str(LOAD), url, SECRET, str(BODY), "issues", seconds, str(connections)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("web", "all"), default="web")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=39180)
    parser.add_argument("--dsn", help="DATABASE_URL of a server to use instead of the embedded one")
    parser.add_argument("--profile", action="store_true", help="run the bot under cProfile")
    parser.add_argument(
        "--bot", help="another checkout's codegen-bot (its .venv/bin) to measure instead"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="intake-cpu-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SENTRY_DSN")}
    env.update(GITHUB_WEBHOOK_SECRET=SECRET, DATA_DIR=str(work / "data"), LOG_LEVEL="WARNING")
    env["HOST"] = "127.0.0.1"
    if args.dsn:
        env["DATABASE_URL"] = args.dsn
    python = Path(args.bot).parent / "python" if args.bot else ROOT / ".venv" / "bin" / "python"
    profile = work / "profile.out"
    cmd = [str(python)] + (["-m", "cProfile", "-o", str(profile)] if args.profile else [])
    cmd += ["-m", "app", "serve", "--role", args.role, "--port", str(args.port)]
    log = open(work / "bot.log", "w")  # closed in finally
    bot = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(args.port, bot)
        load(args.port, "2s", args.connections)  # warm-up
        depth_before = queue_depth(args.port)
        before, machine_before, started = cpu_ticks(bot.pid), machine_ticks(), time.monotonic()
        result = load(args.port, f"{args.seconds}s", args.connections)
        after, machine_after = cpu_ticks(bot.pid), machine_ticks()
        elapsed = time.monotonic() - started
        depth_after = queue_depth(args.port)
        answered = int(re.search(r"responses=(\d+)", result).group(1))
        print(f"role {args.role}, {'DATABASE_URL' if args.dsn else 'embedded PostgreSQL'}")
        print(result)
        if args.role == "all" and depth_before is not None and depth_after is not None:
            ran = answered - (depth_after - depth_before)
            print(f"jobs run during it: {ran} of {answered} deliveries ({ran / elapsed:.0f}/s)")
        for group in ("bot", "postgres"):
            seconds = (after[group] - before[group]) / HZ
            print(
                f"{group:9} {seconds / answered * 1e6:6.0f} µs CPU a delivery "
                f"({seconds / elapsed * 100:3.0f} % of one core)"
            )
        busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
        print(f"machine   {busy * 100:.0f} % of all {os.cpu_count()} cores busy (wrk, others)")
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(60)
        except subprocess.TimeoutExpired:
            bot.kill()
        log.close()
        if args.profile and profile.exists():
            print("\nown time, top 20 (cProfile):")
            pstats.Stats(str(profile), stream=sys.stdout).sort_stats("tottime").print_stats(20)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
