"""Prometheus metrics, defined once and imported where they are counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "codegen_bot_webhook_deliveries_total",
    "Webhook deliveries received, by event, action and outcome",
    ["event", "action", "outcome"],
    registry=REGISTRY,
)
INTAKE_SECONDS = Histogram(
    "codegen_bot_webhook_intake_seconds",
    "Time from request to answer at the webhook endpoint",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
JOBS = Counter(
    "codegen_bot_jobs_total",
    "Jobs run, by kind and outcome (done, queued for retry, dead, released)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "codegen_bot_job_run_seconds",
    "Job run time",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "codegen_bot_queue_depth",
    "Jobs by queue state (ready, scheduled, running, dead), read at scrape time",
    ["state"],
    registry=REGISTRY,
)
QUEUE_OLDEST_AGE = Gauge(
    "codegen_bot_queue_oldest_ready_seconds",
    "Age of the oldest job ready to run, read at scrape time",
    registry=REGISTRY,
)
GITHUB_CALLS = Counter(
    "codegen_bot_github_api_calls_total",
    "GitHub API calls, by method and HTTP status (0 for a network error)",
    ["method", "status"],
    registry=REGISTRY,
)
GITHUB_RATE_REMAINING = Gauge(
    "codegen_bot_github_rate_limit_remaining",
    "x-ratelimit-remaining from the last GitHub answer, per installation (0 for the App JWT)",
    ["installation"],
    registry=REGISTRY,
)
RETENTION_DELETED = Counter(
    "codegen_bot_retention_deleted_total",
    "Rows deleted by retention, per table (webhook_deliveries, jobs, commands, command_denials)",
    ["table"],
    registry=REGISTRY,
)
RETENTION_BATCHES = Counter(
    "codegen_bot_retention_batches_total",
    "Retention DELETE statements run (each its own short transaction)",
    registry=REGISTRY,
)
PERIODIC_RUNS = Counter(
    "codegen_bot_periodic_runs_total",
    "Occurrences of periodic jobs started, by kind (one per period across all processes)",
    ["kind"],
    registry=REGISTRY,
)
PERIODIC_LAG = Histogram(
    "codegen_bot_periodic_lag_seconds",
    "How late a periodic job's occurrence started behind its schedule",
    ["kind"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
LOST_DELIVERIES = Counter(
    "codegen_bot_lost_deliveries_total",
    "The delivery sweep's lost deliveries (failed at GitHub, never stored): found, "
    "redelivered, and failed (GitHub refused to redeliver)",
    ["outcome"],
    registry=REGISTRY,
)
LIMIT_WAIT_SECONDS = Histogram(
    "codegen_bot_limit_wait_seconds",
    "Time a request waited for a limit shared by all processes before it was sent "
    "(codegen_create: Codegen's creates per organization; github_write: GitHub "
    "writes per installation, the lease and the spacing)",
    ["limit"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
GITHUB_WRITE_LEASES = Counter(
    "codegen_bot_github_write_leases_total",
    "Per-installation write leases: taken, released (queue empty or hold over) "
    "and lost (the lock connection closed while holding them)",
    ["event"],
    registry=REGISTRY,
)


# The KPIs of issue 14 as events, counted where each happens (per process: the
# worker that handled it). The dashboard's charts read the same from the
# stored rows (app/dashboard/series_store.py); these are for alerting and
# rates: e.g. error rate = attempts ended failed or timed_out / all ended,
# prompt quality = verdicts{attempt="first",verdict="success"} / verdicts{attempt="first"}.
TASK_ATTEMPTS_ENDED = Counter(
    "codegen_bot_task_attempts_ended_total",
    "Agent-run attempts that ended, by outcome (pr_open, failed, timed_out, cancelled, "
    "closed) and attempt (first, retry)",
    ["outcome", "attempt"],
    registry=REGISTRY,
)
AGENT_RUNS_CREATED = Counter(
    "codegen_bot_agent_runs_created_total",
    "Codegen agent runs created for tasks",
    registry=REGISTRY,
)
PULL_REQUESTS_OPENED = Counter(
    "codegen_bot_pull_requests_opened_total",
    "Tasks whose agent run opened a pull request",
    registry=REGISTRY,
)
LABEL_TO_PR_SECONDS = Histogram(
    "codegen_bot_label_to_pr_seconds",
    "Time from a task's start (the label) to its pull request",
    buckets=(60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400),
    registry=REGISTRY,
)
VALIDATION_VERDICTS = Counter(
    "codegen_bot_validation_verdicts_total",
    "Validations completed, by verdict (success, failure, neutral, other) and the task's "
    "attempt (first, retry, none for a PR without a task)",
    ["verdict", "attempt"],
    registry=REGISTRY,
)
CI_FIX_OUTCOMES = Counter(
    "codegen_bot_ci_fix_outcomes_total",
    "Automatic CI fixing that ended on a pull request: passed or exhausted",
    ["outcome"],
    registry=REGISTRY,
)


def attempt_label(attempt: int | None) -> str:
    """first / retry / none: a bounded label for an attempt number."""
    if attempt is None:
        return "none"
    return "first" if attempt <= 1 else "retry"


def verdict_label(verdict: str) -> str:
    return verdict if verdict in ("success", "failure", "neutral") else "other"
