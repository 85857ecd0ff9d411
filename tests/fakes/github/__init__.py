"""A fake GitHub REST API that enforces GitHub's published contract (see server.py)."""

from tests.fakes.github.server import (
    Ctx,
    FakeGitHub,
    GitHubError,
    Recorded,
    Route,
    _iso,
    diff_lines,
    load_webhook_examples,
    openapi_operations,
    sign_webhook,
    suite_conclusion,
    validation_failed,
    webhook_example,
)

__all__ = [
    "Ctx",
    "FakeGitHub",
    "GitHubError",
    "Recorded",
    "Route",
    "_iso",
    "diff_lines",
    "load_webhook_examples",
    "openapi_operations",
    "sign_webhook",
    "suite_conclusion",
    "validation_failed",
    "webhook_example",
]
