"""How benchmarks/memory.py reads RSS samples: /proc's VmRSS, the process tree
that is ours, and "flat" as the slope over the second half of the run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "memory.py"
_spec = importlib.util.spec_from_file_location("bench_memory", PATH)
assert _spec and _spec.loader
memory = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = memory
_spec.loader.exec_module(memory)


def test_slope_is_least_squares():
    assert memory.slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert memory.slope([(0, 1.0), (1, 0.0), (2, 1.0), (3, 0.0)]) == pytest.approx(-0.2)
    assert memory.slope([(5, 1.0)]) == 0.0
    assert memory.slope([(5, 1.0), (5, 9.0)]) == 0.0


def test_warm_up_growth_in_the_first_half_still_reads_flat():
    # 10 MiB of growth in the first 50 s (imports, pools), then level with noise.
    samples = [(t, 70 + min(t, 50) / 5 + (0.3 if t % 2 else 0)) for t in range(101)]
    s = memory.summarize(samples)
    assert (s.start, s.peak, s.samples) == (70, pytest.approx(80.3), 101)
    assert abs(s.growth_mib) < 0.1 and s.flat


def test_a_leak_in_the_second_half_is_growth():
    # 1 MiB a minute: 0.83 MiB over the second half of 100 s is still under 2 MiB,
    # 3 MiB a minute is not.
    slow = memory.summarize([(t, 70 + t / 60) for t in range(101)])
    assert slow.slope_mib_per_min == pytest.approx(1.0) and slow.flat
    leak = memory.summarize([(t, 70 + 3 * t / 60) for t in range(101)])
    assert leak.growth_mib == pytest.approx(2.5) and not leak.flat


def test_no_samples_is_an_error_not_a_figure():
    with pytest.raises(ValueError):
        memory.summarize([])


def test_vmrss_from_proc_status():
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n"
    assert memory.parse_status_rss(status) == 81234
    assert memory.parse_status_rss("Name:\tzombie\nState:\tZ (zombie)\n") is None


def test_descendants_of_a_process_and_not_its_neighbours():
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert sorted(memory.descendants(parents, 10)) == [11, 12, 13]
    assert memory.descendants(parents, 13) == []


def test_result_line():
    line = memory.result_line({"serve_peak_mib": 71.234, "serve_growth_mib": -0.5})
    assert line == "RESULT serve_peak_mib=71.23 serve_growth_mib=-0.50"
