"""Facts about the project itself that several tests compare: the CLI's
commands and the settings app/config.py reads."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command: its argv path, its parser, and the help its parent lists."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append(((*path, name), sub, listed.get(name)))
                found.extend(commands(sub, (*path, name)))
    return found


def variables_read_by_config() -> set[str]:
    source = (ROOT / "app" / "config.py").read_text()
    names = set(re.findall(r"env(?:\.get)?\(\s*\"([A-Z][A-Z0-9_]+)\"", source))
    names |= set(re.findall(r"_\w+\(\s*env,\s*\"([A-Z][A-Z0-9_]+)\"", source))
    names |= set(re.findall(r"name = \"([A-Z][A-Z0-9_]+)\"", source))
    return names
