"""The vocabulary of Codegen's agent API, without I/O: an agent run and the pull
requests it opened as the API describes them (AgentRunResponse), the run's
status collapsed to what the bot acts on, a request's identity by metadata, and
`CodegenError` with the API's own words for a failed call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

_RUNNING = frozenset({"PENDING", "ACTIVE", "RUNNING"})
_COMPLETE = frozenset({"COMPLETE", "COMPLETED"})
_FAILED = frozenset({"FAILED", "ERROR"})
_CANCELLED = frozenset({"CANCELLED", "CANCELED", "STOPPED"})


def run_state(status: str | None) -> str:
    """Collapse Codegen's run status into "running", "complete", "failed" or "cancelled".

    Case-insensitive. Values not seen before count as still running, so a new status
    never ends a task early; the caller's overall timeout bounds the wait."""
    value = (status or "").strip().upper()
    if value in _COMPLETE:
        return "complete"
    if value in _FAILED:
        return "failed"
    if value in _CANCELLED:
        return "cancelled"
    return "running"


class CodegenError(Exception):
    """Codegen refused or could not answer a call.

    `message` is the API's own message (fit to show a user); `retryable` says whether
    trying the same call later can succeed (rate limits, 5xx, network) or not."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        # the request may have been processed although no answer arrived
        self.ambiguous = ambiguous

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.message} (HTTP {self.status})"


class CreateDeferred(Exception):
    """A create gave up waiting for its place in the create limit (another process
    took it) after `max_wait`: this try sent nothing, and a place is expected in
    `wait` seconds. `sent`: an earlier try within the same call was sent and its
    answer lost, so the caller looks for the run before creating again; when
    False nothing of this create ever left, and there is nothing to look for."""

    def __init__(self, wait: float, *, sent: bool = True) -> None:
        super().__init__(f"no place in Codegen's create limit for {wait:.1f}s")
        self.wait = wait
        self.sent = sent


@dataclass(frozen=True)
class PullRequestRef:
    """A pull request an agent run opened (GithubPullRequestResponse)."""

    id: int | None
    url: str
    title: str | None
    head_branch: str | None


@dataclass(frozen=True)
class AgentRun:
    """The parts of AgentRunResponse the bot acts on."""

    id: int
    status: str
    web_url: str | None
    summary: str | None
    result: str | None
    pull_requests: tuple[PullRequestRef, ...]
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AgentRun:
        """Parse an AgentRunResponse body; pull requests without a URL are dropped."""
        prs = tuple(
            PullRequestRef(
                id=pr.get("id"),
                url=pr["url"],
                title=pr.get("title"),
                head_branch=pr.get("head_branch_name"),
            )
            for pr in data.get("github_pull_requests") or ()
            if isinstance(pr, Mapping) and pr.get("url")
        )
        return cls(
            id=int(data["id"]),
            status=str(data.get("status") or ""),
            web_url=data.get("web_url"),
            summary=data.get("summary"),
            result=data.get("result"),
            pull_requests=prs,
            metadata=dict(data.get("metadata") or {}),
        )


def error_message(status: int, body: bytes, reason: str = "") -> str:
    """The API's own words for a failed call, readable by a person.

    Handles Codegen's `{"message": ..., "status_code": ...}`, FastAPI's
    `{"detail": "..."}` and `{"detail": [{"loc", "msg", ...}]}` (422), and non-JSON
    bodies from proxies."""
    fallback = f"Codegen answered HTTP {status}" + (f" {reason}" if reason else "")
    try:
        data = httpx.Response(status, content=body).json()
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        if text and len(text) <= 300 and not text.startswith("<"):
            return text
        return fallback
    if isinstance(data, dict):
        if isinstance(data.get("message"), str) and data["message"].strip():
            return data["message"].strip()
        detail = data.get("detail")
        if isinstance(detail, str) and detail.strip():
            return detail.strip()
        if isinstance(detail, list) and detail:
            parts = [_validation_item(item) for item in detail]
            return "Invalid request: " + "; ".join(p for p in parts if p)
    return fallback


def _validation_item(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = [str(p) for p in item.get("loc") or ()]
    if len(loc) > 1 and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    msg = str(item.get("msg") or item.get("type") or "invalid")
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def metadata_matches(run_metadata: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """True when every key of `wanted` is in the run's metadata with the same value.

    Empty `wanted` matches nothing: it cannot identify a request."""
    if not run_metadata or not wanted:
        return False
    return all(k in run_metadata and run_metadata[k] == v for k, v in wanted.items())
