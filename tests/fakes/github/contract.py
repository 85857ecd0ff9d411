"""What GitHub publishes and the fake enforces: the pinned OpenAPI subset
(tests/data/github-openapi-subset.json) with GitHub-style messages for a body it
rejects, and the documented limits, defaults and error messages.
"""

from __future__ import annotations

import functools
import json
import string
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
OPENAPI_SUBSET = DATA_DIR / "github-openapi-subset.json"

DOCS = "https://docs.github.com/rest"
WEB = "https://github.com"
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
PRIMARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
)
SUPPORTED_API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})

PERMISSION_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
# collaborator role -> the `permission` GitHub answers (maintain -> write, triage -> read)
ROLE_TO_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
CHECK_ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}
MAX_CHECK_RUN_ACTIONS = 3
ANNOTATION_LEVELS = ("notice", "warning", "failure")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
DEFAULT_APP_PERMISSIONS = {
    "checks": "write",
    "contents": "read",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "read",
}
DEFAULT_APP_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "issues",
    "label",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
]
MAX_COMMENT_BODY = 65536
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_PULL_FILES = 3000
CONTENT_MAX_INLINE = 1024 * 1024  # above 1 MB the contents API omits `content`

_SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
_DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "Bad credentials",
    403: _SECONDARY_MESSAGE,
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    422: "Validation Failed",
    429: _SECONDARY_MESSAGE,
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: (
        "We couldn't respond to your request in time. Sorry about that. Please try "
        "resubmitting your request and contact us if the problem persists."
    ),
}
_BAD_JWT = "A JSON web token could not be decoded"
_BAD_IAT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the "
    "assertion was issued."
)
_BAD_EXP = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future "
    "time at which the assertion expires."
)
_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future."
_NO_ACCESS = "Resource not accessible by integration"
_TOKEN_ALPHABET = string.ascii_letters + string.digits


@functools.cache
def _load_subset() -> dict[str, Any]:
    return json.loads(OPENAPI_SUBSET.read_text())


def openapi_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path template) -> operation from tests/data/github-openapi-subset.json."""
    return {(op["method"], op["path"]): op for op in _load_subset()["operations"]}


@functools.cache
def _validator(method: str, path: str) -> Draft202012Validator | None:
    op = openapi_operations().get((method, path))
    if op is None or op["request_body_schema"] is None:
        return None
    Draft202012Validator.check_schema(op["request_body_schema"])
    return Draft202012Validator(op["request_body_schema"])


def _describe(error: ValidationError) -> str:
    """GitHub-style detail for a schema violation."""
    where = "/".join(str(p) for p in list(error.absolute_schema_path)[:-1])
    instance = json.dumps(error.instance)
    if error.validator == "required":
        missing = next(
            (r for r in error.validator_value if r not in (error.instance or {})),
            error.validator_value[0],
        )
        return f'"{missing}" wasn\'t supplied.'
    if error.validator == "additionalProperties":
        return f"{error.message}."
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        article = "an" if str(expected)[0] in "aeiou" else "a"
        return f"For '{where}', {instance} is not {article} {expected}."
    if error.validator == "enum":
        return f"For '{where}', {instance} is not a member of {json.dumps(error.validator_value)}."
    if error.validator == "maxItems":
        if where.endswith("annotations"):
            return (
                f"For '{where}', only {error.validator_value} annotations are allowed per request."
            )
        return (
            f"For '{where}', {len(error.instance)} items are more than the maximum of "
            f"{error.validator_value}."
        )
    if error.validator == "maxLength":
        shown = instance if len(instance) <= 80 else instance[:77] + '..."'
        return (
            f"For '{where}', {shown} is longer than {error.validator_value} characters "
            f"({len(error.instance)})."
        )
    return f"For '{where}', {error.message}."
