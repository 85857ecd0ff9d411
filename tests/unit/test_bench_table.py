"""`make bench`'s aggregator (benchmarks/bench.py): reading the scripts'
`RESULT` lines and building the one table, as pure functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"
_spec = importlib.util.spec_from_file_location("bench_aggregator", PATH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up by name
_spec.loader.exec_module(bench)


def test_result_lines_are_read_and_other_lines_ignored():
    out = (
        "probot#1: 4433 rps\n"
        "RESULT mode=serve bot_rps=3366 probot_rps=4354.5 p99_ms=25.32\n"
        "a line that mentions RESULT rps=1 in passing\n"
        "  RESULT calls_per_task=9.5\n"
        "RESULT\n"
    )
    assert bench.parse_results(out) == [
        {"mode": "serve", "bot_rps": "3366", "probot_rps": "4354.5", "p99_ms": "25.32"},
        {"calls_per_task": "9.5"},
        {},
    ]


def test_no_result_line_gives_nothing():
    assert bench.parse_results("Traceback (most recent call last):\n  boom\n") == []


@pytest.mark.parametrize(
    ("text", "value"), [("12.5", 12.5), ("-3", -3.0), ("nan", None), ("ok", None), (None, None)]
)
def test_numbers(text, value):
    assert bench.number(text) == value


def test_sittings_combine_to_medians_by_mode():
    sittings = [
        [{"mode": "serve", "ratio": "0.7"}, {"mode": "web", "ratio": "0.9"}],
        [{"mode": "serve", "ratio": "1.1"}, {"mode": "web", "ratio": "0.8"}],
        [{"mode": "serve", "ratio": "0.9", "note": "slow"}],
    ]
    assert bench.combine(sittings) == {
        "serve": {"ratio": pytest.approx(0.9)},
        "web": {"ratio": pytest.approx(0.85)},
    }


def test_a_run_with_a_failed_sitting_did_not_run():
    ok = bench.outcome("a", [(0, "RESULT x=1\n")])
    crashed = bench.outcome("b", [(0, "RESULT x=1\n"), (2, "RESULT x=2\n")])
    silent = bench.outcome("c", [(0, "no figures\n")])
    timed_out = bench.outcome("d", [(None, "")])
    assert ok.ran and ok.status_text() == "ok"
    assert not crashed.ran and crashed.status_text() == "exit 2"
    assert not silent.ran and silent.status_text() == "no RESULT line"
    assert not timed_out.ran and timed_out.status_text() == "timed out"
    assert bench.failed({o.name: o for o in (ok, crashed, silent, timed_out)}) == ["b", "c", "d"]


ROWS = (
    bench.Row("rps", "intake", "bot_rps", "", bench.Target(">=", 1.0, on="ratio"), "probot_rps",
              "", ratio_key="ratio"),
    bench.Row("p99", "intake", "p99_ms", " ms", bench.Target("<=", 25), None, ""),
    bench.Row("lag", "lag", "lag_p99_ms", " ms", bench.Target("<=", 50), "idle_p99_ms", ""),
    bench.Row("info", "lag", "health_p99_ms", " ms", None, None, ""),
)  # fmt: skip


def cells(outcomes):
    return {c[0]: c for c in bench.table_rows(ROWS, outcomes)}


def test_ratio_target_against_the_anchor_of_the_same_sitting():
    intake = bench.outcome(
        "intake",
        [(0, "RESULT mode=serve bot_rps=5000 probot_rps=4000 p99_ms=30 ratio=1.25\n")] * 2
        + [(0, "RESULT mode=serve bot_rps=3000 probot_rps=4000 p99_ms=20 ratio=0.75\n")],
    )
    table = cells({"intake": intake})
    _, value, target, anchor, ratio, verdict, _ = table["rps (serve)"]
    assert (value, target, anchor, ratio, verdict) == (
        "5,000",
        "ratio >= 1",
        "4,000",
        "1.25x",
        "met",
    )
    # Without an anchor the target itself is the reference; a miss is marked, not dropped.
    _, value, target, anchor, ratio, verdict, _ = table["p99 (serve)"]
    assert (value, target, anchor, ratio) == ("30.0 ms", "<= 25 ms", "25.0 ms (target)", "1.20x")
    assert verdict == "**MISSED**"


def test_the_ratio_is_computed_when_the_script_gives_none():
    intake = bench.outcome("intake", [(0, "RESULT bot_rps=2000 probot_rps=4000 p99_ms=9\n")])
    table = cells({"intake": intake})
    assert table["rps"][4] == "0.50x" and table["rps"][5] == "**MISSED**"
    assert table["p99"][5] == "met"


def test_a_script_that_did_not_run_shows_a_dash_and_its_status():
    table = cells({"intake": bench.outcome("intake", [(1, "")])})
    assert table["rps"][1] == "—" and table["rps"][5] == "— (exit 1)"
    lag = cells({"lag": bench.outcome("lag", [(0, "RESULT lag_p99_ms=8\n")])})
    assert lag["info"][1] == "—" and lag["info"][5] == "— (no health_p99_ms)"
    assert lag["lag"][5] == "met" and lag["lag"][3] == "—"  # anchor missing: no ratio
    assert cells({})["lag"][5] == "— (not run)"


RUN_SH = (
    "probot#1: 4433 rps\n"
    "RESULT mode=embedded/web intake_ratio=0.93 p99_ms=14.20 rps=4100 sittings=5 "
    "ratios=0.88,0.93,1.01,0.90,0.97 durability=ok duration=10s connections=32\n"
    "RESULT mode=stock/all intake_ratio=1.04 p99_ms=31.5 rps=4500 sittings=5 "
    "ratios=1.0,1.1,1.04,0.9,1.2 durability=ok duration=10s connections=32\n"
)


def test_run_sh_modes_become_rows_with_probot_implied_from_the_ratio():
    table = {
        c[0]: c
        for c in bench.table_rows(bench.ROWS, {"intake": bench.outcome("intake", [(0, RUN_SH)])})
    }
    _, value, target, anchor, ratio, verdict, _ = table[
        "intake rps, ratio to Probot (embedded/web)"
    ]
    assert (value, target, anchor, ratio, verdict) == (
        "4,100",
        "ratio >= 1",
        "4,409 (implied)",
        "0.93x",
        "**MISSED**",
    )
    assert table["intake rps, ratio to Probot (stock/all)"][5] == "met"
    assert table["intake p99 (embedded/web)"][5] == "met"
    assert table["intake p99 (stock/all)"][5] == "**MISSED**"
    # The other runs did not run in this sitting.
    assert table["GitHub calls per task"][5] == "— (not run)"


def test_the_report_holds_facts_table_and_runs():
    outcomes = {
        "intake": bench.outcome("intake", [(0, RUN_SH)]),
        "loop-lag": bench.outcome("loop-lag", [(3, "")]),
    }
    facts = {"date": "2026-11-30 19:00 UTC", "nproc": "2", "load average at start": "1.00"}
    text = bench.report(bench.ROWS, outcomes, facts, {"intake": 61.2, "loop-lag": 3})
    assert text.startswith("## Sitting of 2026-11-30 19:00 UTC\n")
    assert "- nproc: 2\n" in text and "- load average at start: 1.00\n" in text
    assert "| figure | value | target | anchor, same sitting | ratio | verdict |" in text
    assert "| loop lag p99, 3,000-file PR | — | <= 50 ms | — | — | — (exit 3) |" in text
    assert "intake ok (61 s); loop-lag exit 3 (3 s)" in text
    assert "Intake ratio by sitting (embedded/web): 0.88,0.93,1.01,0.90,0.97" in text


def test_every_row_names_a_run_and_targets_are_as_issue_15_sets_them():
    runs = {r.name: r for r in bench.RUNS}
    assert {row.run for row in bench.ROWS} <= set(runs)
    targets = {(r.run, r.key): (r.target.op, r.target.value) for r in bench.ROWS if r.target}
    assert targets[("intake", "p99_ms")] == ("<=", 25)
    assert targets[("task-spread", "create_p50_ms")] == ("<=", 300)
    assert targets[("task-burst", "create_p99_ms")] == ("<=", 600)
    assert targets[("task-feedback", "feedback_p99_ms")] == ("<=", 150)
    assert targets[("task-burst", "feedback_p99_ms")] == ("<=", 2000)
    assert targets[("task-spread", "calls_per_task")] == ("<=", 10)
    assert targets[("validation", "calls_per_validation")] == ("<=", 8)
    assert targets[("memory", "serve_peak_mib")] == ("<=", 80)
    assert targets[("loop-lag", "lag_p99_ms")] == ("<=", 50)
    intake = next(r for r in bench.ROWS if r.run == "intake" and r.key == "rps")
    assert intake.target == bench.Target(">=", 1.0, on="ratio")
    full, quick = runs["intake"].argv(False, "py"), runs["intake"].argv(True, "py")
    assert full[full.index("--sittings") + 1] == "5" and quick[quick.index("--sittings") + 1] == "1"
    assert runs["memory"].argv(False, "py") == ["py", "benchmarks/memory.py"]


def test_a_cell_with_a_pipe_does_not_break_the_table():
    text = bench.markdown(("a", "b"), [["x|y", "z"]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | z |"]


def test_the_bare_receiver_is_a_reference_not_a_verdict():
    lines = "RESULT mode=bare intake_ratio=0.7 p99_ms=40 rps=3000 sittings=1 ratios=0.7\n"
    table = {
        c[0]: c
        for c in bench.table_rows(bench.ROWS, {"intake": bench.outcome("intake", [(0, lines)])})
    }
    # Below the target, yet neither "met" nor "MISSED": it is not the bot.
    assert table["intake rps, ratio to Probot (bare)"][5] == "reference"
    assert table["intake p99 (bare)"][5] == "reference"
