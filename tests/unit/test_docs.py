"""docs/ARCHITECTURE.md says what the code does: its job table and its task
state diagram are compared with the code, so a change to either shows here."""

from __future__ import annotations

import re
from pathlib import Path

from app.service import job_kinds
from app.tasks.status import TRANSITIONS, TaskStatus

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md").read_text()


def _mermaid() -> str:
    return DOC.split("```mermaid", 1)[1].split("```", 1)[0]


def _diagram_moves() -> set[tuple[str, str]]:
    """Arrows of the diagram, an arrow from a composite state standing for one
    from each state drawn inside it."""
    inside: dict[str, set[str]] = {}
    arrows: set[tuple[str, str]] = set()
    box: str | None = None
    for line in _mermaid().splitlines():
        line = line.strip()
        opened = re.match(r'state "[^"]*" as (\w+) \{$', line)
        if opened:
            box = opened.group(1)
            inside[box] = set()
            continue
        if line == "}":
            box = None
            continue
        arrow = re.match(r"(\[\*\]|\w+) --> (\[\*\]|\w+)", line)
        if arrow:
            src, dst = arrow.groups()
            arrows.add((src, dst))
            if box:
                inside[box].update({src, dst})
    moves = set()
    for src, dst in arrows:
        if "[*]" in (src, dst):
            continue
        for each in sorted(inside.get(src, {src})):
            moves.add((each, dst))
    return moves


def test_state_diagram_is_the_transition_table():
    table = {(s.value, t.value) for s, targets in TRANSITIONS.items() for t in targets}
    assert _diagram_moves() == table


def test_every_status_is_drawn():
    drawn = {name for move in _diagram_moves() for name in move}
    assert drawn == {s.value for s in TaskStatus}


def _job_rows() -> dict[str, tuple[str, str]]:
    block = DOC.split("<!-- job-kinds", 1)[1].split("<!-- /job-kinds -->", 1)[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("Kind",) and not cells[0].startswith("-"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_job_table_lists_every_kind_with_its_module_and_clean_up():
    rows = _job_rows()
    kinds = {k.name: k for k in job_kinds()}
    assert set(rows) == set(kinds)
    for name, kind in kinds.items():
        module, clean_up = rows[name]
        assert module == kind.run.__module__, name
        expected = kind.on_dead.__name__ if kind.on_dead else "—"
        assert clean_up == expected, name
