"""The API's request and response definitions: pydantic models that validate
each request (a 422 names the field) and, through `app.api.openapi`, make the
OpenAPI 3.1 document, so what is documented is what is enforced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.pull_requests.placement import ref_problem
from app.tasks.status import TaskStatus
from prompts.builder import STRATEGIES, STYLES

Priority = Literal["low", "medium", "high", "critical"]
Complexity = Literal["low", "medium", "high"]
Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]
Style = Literal[STYLES]  # type: ignore[valid-type]
StatusName = Literal[tuple(s.value for s in TaskStatus)]  # type: ignore[valid-type]

MAX_ITEMS = 50
ITEM_CHARS = 2_000
TEXT_CHARS = 60_000
BIGINT = 2**63 - 1
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
BRANCH_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"
# PostgreSQL's text holds no NUL character: refused here (422), not by the database (500).
NO_NUL = r"^[^\x00]*$"
Item = Annotated[str, Field(min_length=1, max_length=ITEM_CHARS, pattern=NO_NUL)]
# A login or an `org/team` name (app/pull_requests/placement.py), a one-line label.
Reviewer = Annotated[
    str,
    Field(
        min_length=1,
        max_length=140,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}(?:/[A-Za-z0-9_.-]{1,100})?$",
    ),
]
Label = Annotated[
    str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f]*[^\x00-\x1f\s][^\x00-\x1f]*$")
]


class _In(BaseModel):
    """A request body: unknown fields are refused, so a typo is a 422, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class TaskCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Export the table as CSV",
                    "description": "The export button should produce a CSV of the visible rows.",
                    "requirements": ["Add an 'Export CSV' button to the table toolbar"],
                    "acceptance_criteria": ["Clicking the button downloads `widgets.csv`"],
                    "priority": "medium",
                    "estimated_complexity": "low",
                    "repository": "octo-org/widgets",
                }
            ]
        },
    )
    title: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
    description: str = Field(default="", max_length=TEXT_CHARS, pattern=NO_NUL)
    requirements: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    acceptance_criteria: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    priority: Priority = "medium"
    estimated_complexity: Complexity = "medium"
    repository: str = Field(
        pattern=REPOSITORY_PATTERN, description="owner/name; the App is installed there"
    )
    issue_number: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="an issue of the repository; omitted: the bot opens one from the fields",
    )


class TaskFilter(_In):
    """`GET /api/v1/tasks` query parameters."""

    status: StatusName | None = None
    repository: str | None = Field(default=None, pattern=REPOSITORY_PATTERN)
    created_since: AwareDatetime | None = Field(
        default=None, description="an RFC 3339 time with its offset, e.g. 2026-11-30T12:00:00Z"
    )
    cursor: str | None = Field(
        default=None, pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=200)

    @field_validator("created_since")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """In UTC, as the database takes it: 0001-01-01T00:00+05:00 is before the first day."""
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time in UTC is outside the calendar") from None


class PullRequestLink(BaseModel):
    url: str | None = None
    title: str | None = None


class TaskOut(BaseModel):
    id: int
    repository: str
    issue_number: int
    issue_url: str
    title: str
    description: str
    requirements: list[str]
    acceptance_criteria: list[str]
    priority: str
    estimated_complexity: str
    status: str = Field(
        description="`created`: made through the API, waiting for `create-pr`, "
        "`/codegen run` or the trigger label to start it; then as a labeled issue's task"
    )
    status_detail: str | None
    triggered_by: str
    attempt: int
    max_retries: int
    simulated: bool
    auto_merge: bool | None
    pull_requests: list[PullRequestLink]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class ContextOptions(_In):
    includeCodebaseContext: bool = True
    includeDependencies: bool = True
    includeValidationCriteria: bool = True
    promptStyle: Style = "comprehensive"


class GeneratePrompt(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"task_id": 1, "context_options": {"promptStyle": "concise"}}]
        },
    )
    task_id: int = Field(ge=1, le=BIGINT)
    context_options: ContextOptions = Field(default_factory=ContextOptions)


class PromptData(BaseModel):
    id: int
    task_id: int
    prompt: str
    style: str
    context_used: dict[str, Any]
    created_at: datetime


class PromptOut(BaseModel):
    prompt_data: PromptData


class PromptRef(BaseModel):
    """`prompt_data` as `generate-prompt` answered it; only its `id` is read (the
    stored prompt is used, not text sent back)."""

    model_config = ConfigDict(extra="ignore")
    id: int = Field(ge=1, le=BIGINT)


class PrOptions(_In):
    branchName: str | None = Field(default=None, pattern=BRANCH_PATTERN)
    prTitle: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[^\r\n\x00]+$"
    )
    autoMerge: bool | None = None
    base: str | None = Field(
        default=None, pattern=BRANCH_PATTERN, description="the branch to open the PR against"
    )
    draft: bool | None = Field(default=None, description="open the PR as a draft")
    reviewers: list[Reviewer] | None = Field(
        default=None,
        max_length=15,
        description="logins or `org/team` names to request reviews from once the PR is "
        "ready (default: the repository's `pull_request.reviewers`, else whoever asked)",
    )
    labels: list[Label] | None = Field(
        default=None, max_length=10, description="labels to add to the PR"
    )

    @field_validator("branchName", "base")
    @classmethod
    def _git_ref(cls, value: str | None) -> str | None:
        """A name git refuses (`a..b`, `x.lock`, `x/`) is refused here: taken,
        the placement would drop it for the default branch or the template."""
        if value is not None and (problem := ref_problem(value)) is not None:
            raise ValueError(f"a branch name {problem}")
        return value


class CreatePr(_In):
    """Starts a `created` task's first attempt (the run it was made for, with these
    options) or a new attempt of a task that ended; refused (409) while one works."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task_id": 1,
                    "prompt_data": {"id": 1},
                    "options": {"branchName": "codegen/export-csv", "autoMerge": False},
                }
            ]
        },
    )
    task_id: int = Field(ge=1, le=BIGINT)
    prompt_data: PromptRef | None = None
    options: PrOptions = Field(default_factory=PrOptions)


class RetryOptions(_In):
    strategy: Strategy | None = None


class Retry(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"retry_options": {"strategy": "different_approach"}}]},
    )
    retry_options: RetryOptions = Field(default_factory=RetryOptions)


class Started(BaseModel):
    """An attempt the workflow now carries out (its agent run is made by a job)."""

    task_id: int
    request_id: int | None = Field(description="the attempt's prompt and agent run record")
    attempt: int
    status: str
    message: str


class Cancelled(BaseModel):
    task: TaskOut
    message: str


class Step(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    detail: str | None = None


class Workflow(BaseModel):
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    steps: list[Step]


class AgentRun(BaseModel):
    request_id: int
    attempt: int
    strategy: str | None
    style: str
    status: str
    agent_run_id: int | None
    web_url: str | None
    pull_requests: list[PullRequestLink]
    error: str | None
    created_at: datetime
    run_created_at: datetime | None
    finished_at: datetime | None


class PullRequestOut(BaseModel):
    number: int
    state: str
    head_sha: str
    opened_at: datetime
    merged_at: datetime | None


class Validation(BaseModel):
    head_sha: str
    status: str
    trigger: str
    conclusion: str | None
    title: str | None
    check_run_url: str | None
    created_at: datetime
    completed_at: datetime | None


class FollowupOut(BaseModel):
    kind: str
    status: str
    requested_by: str
    agent_run_id: int | None
    error: str | None
    created_at: datetime


class Status(BaseModel):
    task: TaskOut
    workflow: Workflow | None
    agent_runs: list[AgentRun]
    pull_requests: list[PullRequestOut]
    validation: Validation | None
    followups: list[FollowupOut]


class ErrorDetail(BaseModel):
    field: str | None = Field(description="the request field at fault, dotted; null if none")
    message: str


class Error(BaseModel):
    error: str = Field(description="a stable code: bad_json, invalid, not_found, conflict, ...")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
