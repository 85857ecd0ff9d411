"""app.yml, the App manifest: the events and the least permissions the App needs."""

from __future__ import annotations

import re
from pathlib import Path

MANIFEST = (Path(__file__).resolve().parents[2] / "app.yml").read_text()


def _block(name: str) -> list[str]:
    """Lines of the top-level block `name:` (the manifest is plain YAML of
    scalars, lists and one-level mappings)."""
    match = re.search(rf"^{name}:\n((?:[ \t]+.*\n|[ \t]*#.*\n)+)", MANIFEST, re.MULTILINE)
    assert match, f"no {name} block in app.yml"
    return [
        line.strip() for line in match.group(1).splitlines() if not line.strip().startswith("#")
    ]


def test_default_events():
    events = {line.removeprefix("- ").strip() for line in _block("default_events")}
    assert events == {
        "issues",
        "issue_comment",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "check_run",
        "check_suite",
        "status",
        "repository",
        "push",
    }


def test_least_permissions():
    permissions = dict(line.split(": ", 1) for line in _block("default_permissions"))
    assert permissions == {
        "issues": "write",
        "pull_requests": "write",
        "checks": "write",
        "contents": "read",
        "metadata": "read",
        "statuses": "read",
    }


def test_webhook_path_is_the_one_served():
    from app.web.server import WEBHOOK_PATH

    assert re.search(rf"url: \S+{re.escape(WEBHOOK_PATH)}$", MANIFEST, re.MULTILINE)
