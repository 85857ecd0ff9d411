"""A fake GitHub REST API that enforces GitHub's published contract.

`FakeGitHub` (server.py) is the HTTP server; each resource lives in its own module
(see server.py's docstring). These are the names tests import.
"""

from tests.fakes.github.checks import suite_conclusion
from tests.fakes.github.contract import openapi_operations
from tests.fakes.github.pulls import diff_lines
from tests.fakes.github.routing import Ctx, GitHubError, Recorded, Route, validation_failed
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.util import _iso
from tests.fakes.github.webhooks import load_webhook_examples, sign_webhook, webhook_example

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
