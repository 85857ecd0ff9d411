"""README statements that the code decides: checked against the code, so the
two cannot drift apart again."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_payload_storage_the_readme_describes_is_the_migrations():
    sql = "\n".join(p.read_text() for p in sorted((ROOT / "migrations").glob("*.sql")))
    settings = re.findall(r"ALTER COLUMN payload SET STORAGE (\w+)", sql)
    assert settings, "a migration sets the payload's storage"
    if settings[-1].upper() == "EXTERNAL":  # out of line, never compressed
        assert "compression stays on" not in README
        assert "stored uncompressed (`SET STORAGE EXTERNAL`" in README


def test_the_api_keys_row_matches_the_routes_served():
    server = (ROOT / "app" / "web" / "server.py").read_text()
    api_routes = re.findall(r"add_\w+\(\s*[\"'](/api/v1[^\"']*)", server)
    [row] = [line for line in README.splitlines() if line.startswith("| `API_KEYS`")]
    if not api_routes:
        assert "not served yet" in row, row
