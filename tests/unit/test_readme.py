"""README statements that the code decides: checked against the code, so the
two cannot drift apart again."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from app.__main__ import build_parser
from app.api.routes import OPERATIONS
from app.config import Settings
from app.deliveries import store as deliveries_store
from app.service import NO_DATABASE
from tests.support.project import commands as _commands
from tests.support.project import variables_read_by_config as _variables_read_by_config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_payload_storage_the_readme_describes_is_the_migrations():
    sql = "\n".join(p.read_text() for p in sorted((ROOT / "migrations").glob("*.sql")))
    settings = re.findall(r"ALTER COLUMN payload SET STORAGE (\w+)", sql)
    assert settings, "a migration sets the payload's storage"
    if settings[-1].upper() == "EXTERNAL":  # never compressed by PostgreSQL
        assert "compression stays on" not in README
        assert "PostgreSQL keeps them as given (`SET STORAGE EXTERNAL`" in README
    # The bot compresses, and rows up to the target the README names stay in the heap.
    assert ("zstd-compressed" in README) == hasattr(deliveries_store, "ZSTD_MAGIC")
    [target] = re.findall(r"SET \(toast_tuple_target = (\d+)\)", sql)
    assert f"`toast_tuple_target = {target}`" in README


def test_the_api_keys_row_matches_the_routes_served():
    [row] = [line for line in README.splitlines() if line.startswith("| `API_KEYS`")]
    if not OPERATIONS:
        assert "not served yet" in row, row
    else:
        assert "not served yet" not in row, row
        section = _section("REST API")
        for op in OPERATIONS:  # every endpoint served has its row
            assert f"`{op.method} {op.path}`" in section, op.path


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_readme_starts_with_make_run_and_make_test():
    lines = README.splitlines()
    assert lines[0] == "# codegen-bot"
    start = lines.index("```sh")
    assert start <= 2
    block = lines[start + 1 : lines.index("```", start + 1)]
    assert [line.split("#")[0].strip() for line in block] == ["make run", "make test"]


def test_the_readme_speaks_to_its_three_readers_first():
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings[:3] == ["Try it locally", "Deploy it", "Operate it"]
    for needed in ("make run", "Register the App and receive webhooks locally", "label"):
        assert needed in _section("Try it locally")
    deploy = _section("Deploy it")
    for needed in ("### Docker", "### Fly.io", "### Any PostgreSQL", "DATABASE_URL"):
        assert needed in deploy
    operate = _section("Operate it")
    for needed in ("**Logs.**", "/metrics", "**Dead jobs.**", "**Upgrades.**"):
        assert needed in operate


def test_every_command_is_in_the_command_line_section():
    section = _section("Command line")
    for path, _, _ in _commands(build_parser()):
        assert f"codegen-bot {' '.join(path)}" in section, path
    assert "codegen-bot --version" in section


def test_every_setting_is_in_the_configuration_table():
    table = _section("Configuration")
    missing = [
        name
        for name in sorted(_variables_read_by_config())
        if not re.search(rf"`{name}(`|=)", table)
    ]
    assert missing == [], "read by app/config.py but not in the table"


def test_the_lock_commands_in_the_readme_are_the_makefile_s():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock:", makefile, re.MULTILINE)
    assert "make lock\n" in README.replace("make lock  ", "make lock\n")
    [upgrade] = re.findall(r"make lock (LOCK_UPGRADE=\S+)", README)
    assert upgrade == "LOCK_UPGRADE=--upgrade" and "LOCK_UPGRADE ?=" in makefile


def test_the_deployment_figures_quoted_are_fly_toml_s():
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    grace = int(Settings().shutdown_grace_seconds)
    assert f"`kill_timeout` ({fly['kill_timeout']} s)" in README
    assert f"than the shutdown grace\n({grace} s)" in README
    assert f"`METRICS_PORT` {fly['env']['METRICS_PORT']}" in README
    assert f"--time {fly['kill_timeout']}" in README
    assert NO_DATABASE.startswith("is not set, and this install has no embedded PostgreSQL")
    assert "DATABASE_URL: is not set, and this install has no embedded PostgreSQL" in README


def test_the_layout_section_matches_the_tree():
    """Every package of app/, every top-level module, and every top-level folder
    is in the layout, and the layout names nothing that is not there."""
    tree = _section("Layout").split("```", 2)[1]
    listed = set(re.findall(r"^  (\w+)/", tree, re.MULTILINE))
    packages = {p.parent.name for p in (ROOT / "app").glob("*/__init__.py")}
    assert listed == packages
    modules = {p.name for p in (ROOT / "app").glob("*.py") if p.name != "__init__.py"}
    assert modules <= set(re.findall(r"\b(\w+\.py)\b", tree))
    folders = set(re.findall(r"^(\w+)/", tree, re.MULTILINE)) - {"app"}
    tracked = {"handlers", "prompts", "migrations", "docs", "tests", "benchmarks"}
    assert folders == tracked and all((ROOT / f).is_dir() for f in folders)


def test_every_source_path_the_docs_name_exists():
    """A file renamed or moved is renamed in the prose too."""
    docs = {
        "README.md": README,
        "docs/ARCHITECTURE.md": (ROOT / "docs" / "ARCHITECTURE.md").read_text(),
        "tests/README.md": (ROOT / "tests" / "README.md").read_text(),
        "benchmarks/README.md": (ROOT / "benchmarks" / "README.md").read_text(),
    }
    pattern = re.compile(r"`((?:app|handlers|prompts|tests|docs|migrations)/[\w./]*)`")
    missing = [
        f"{name}: {path}"
        for name, text in docs.items()
        for path in pattern.findall(text)
        if "*" not in path and not (ROOT / path).exists()
    ]
    assert missing == []
