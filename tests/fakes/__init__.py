"""Test doubles: a contract-enforcing fake GitHub API and throw-away App keys."""

from tests.fakes.github import (
    Ctx,
    FakeGitHub,
    GitHubError,
    Recorded,
    Route,
    diff_lines,
    load_webhook_examples,
    openapi_operations,
    sign_webhook,
    webhook_example,
)
from tests.fakes.keys import encode_jwt, make_app_jwt, make_app_key, make_other_key

__all__ = [
    "Ctx",
    "FakeGitHub",
    "GitHubError",
    "Recorded",
    "Route",
    "diff_lines",
    "encode_jwt",
    "load_webhook_examples",
    "make_app_jwt",
    "make_app_key",
    "make_other_key",
    "openapi_operations",
    "sign_webhook",
    "webhook_example",
]
