"""benchmarks/run.sh refuses a mode it does not know before it starts anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.sh"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "mysql"], "--db must be embedded, stock or both"),
        (["--role", "worker"], "--role must be web, all or both"),
        (["--sittings", "0"], "--sittings must be a positive integer"),
        (["--frobnicate"], "unknown option --frobnicate"),
        (["--db", "both", "ten"], "DURATION must look like"),
    ],
)
def test_bad_arguments_stop_the_run_at_once(args, message):
    result = subprocess.run(
        ["bash", str(RUN), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "RESULT" not in result.stdout
