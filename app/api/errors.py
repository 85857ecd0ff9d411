"""The API's errors: one exception carrying the status and the body's code,
message and field, so every refusal has the same JSON shape (`models.Error`)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else [{"field": field, "message": message}]
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


def not_found(task_id: int) -> ApiError:
    return ApiError(404, "not_found", f"task {task_id} does not exist", field="task_id")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", f"{field}: {message}", field=field)


def from_github(exc: Exception) -> ApiError | None:
    """What a GitHub refusal the endpoint did not expect means to the API's
    caller: GitHub's rate limits are the caller's to wait out (429 with GitHub's
    Retry-After), anything else GitHub refused or failed is a 502. None for an
    exception that is not GitHub's."""
    from gidgethub import GitHubBroken, HTTPException, RateLimitExceeded

    if not isinstance(exc, HTTPException | RateLimitExceeded):
        return None
    status = getattr(exc, "status_code", None)
    headers = getattr(exc, "headers", None) or {}
    text = str(exc).lower()
    if isinstance(exc, RateLimitExceeded) or (status in (403, 429) and "rate limit" in text):
        wait = str(headers.get("retry-after") or headers.get("Retry-After") or 60)
        return ApiError(
            429,
            "github_rate_limited",
            f"GitHub is rate-limiting the App's installation; try again in {wait} s",
            headers={"Retry-After": wait if wait.isdigit() else "60"},
        )
    if isinstance(exc, GitHubBroken) or status is not None:
        return ApiError(502, "github_error", f"GitHub did not do what was asked (HTTP {status})")
    return None
