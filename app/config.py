"""Settings read once at start-up from the environment and an optional `.env`.

A bad value stops start-up with one line naming the variable, so an operator
never discovers a typo from a stack trace an hour later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["ConfigError", "Settings", "load_settings", "parse_dotenv"]


class ConfigError(Exception):
    """A configuration value that cannot be used; `str()` is the one line to print."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class Settings:
    github_app_id: int | None = None
    github_private_key: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_app_slug: str | None = None
    github_api_url: str = "https://api.github.com"
    # Where people use GitHub in a browser (the manifest flow posts there); a
    # GitHub Enterprise Server host has its own.
    github_web_url: str = "https://github.com"
    github_client_id: str | None = None
    github_client_secret: str | None = field(default=None, repr=False)
    # This server as GitHub reaches it (webhook URL in the manifest); unset: the
    # request's forwarded host.
    public_url: str | None = None
    # A smee.io channel whose deliveries are fed to the intake (local development).
    webhook_proxy_url: str | None = field(default=None, repr=False)
    # Pins the one-time token that lets a non-local browser register the App
    # (unset: a random one, printed in the log at start-up).
    setup_token: str | None = field(default=None, repr=False)
    # The dashboard (app/dashboard): an operator key that opens every page without
    # GitHub sign-in, the key sessions are signed with (unset: derived from the
    # App's private key, else ADMIN_TOKEN), and GitHub logins that are operators.
    admin_token: str | None = field(default=None, repr=False)
    session_secret: str | None = field(default=None, repr=False)
    dashboard_admins: tuple[str, ...] = ()
    # The file the manifest flow writes the App's credentials to.
    env_file: Path = Path(".env")
    github_write_interval: float = 1.0
    codegen_api_key: str | None = field(default=None, repr=False)
    codegen_org_id: int | None = None
    codegen_api_url: str = "https://api.codegen.com"
    codegen_enable_mock_mode: bool = False
    database_url: str | None = field(default=None, repr=False)
    data_dir: Path = Path(".data")
    host: str = "0.0.0.0"  # noqa: S104 - a server is meant to be reachable
    port: int = 3000
    metrics_port: int | None = None
    trigger_label: str = "codegen"
    max_concurrent_workflows: int = 5
    workflow_timeout_ms: int = 300_000
    agent_run_timeout_ms: int = 3_600_000
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    sentry_dsn: str | None = field(default=None, repr=False)
    notify_webhook_url: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    log_format: str = "text"
    job_lease_seconds: float = 60.0
    job_max_attempts: int = 8
    job_poll_seconds: float = 5.0
    # Lost-delivery recovery: how often to sweep GitHub's delivery log (0: never),
    # and the pause between two redeliveries a process asks for.
    delivery_sweep_seconds: float = 600.0
    delivery_redeliver_interval: float = 1.0
    job_retry_base_seconds: float = 2.0
    shutdown_grace_seconds: float = 25.0
    run_poll_first_seconds: float = 10.0
    run_poll_max_seconds: float = 120.0
    # Retention (app/retention): deliveries, finished jobs and command ledgers
    # older than this many days are deleted; 0 keeps everything.
    retention_days: int = 30
    retention_batch_size: int = 500
    retention_pause_seconds: float = 0.05
    # How often a pass should run, for the scheduler to hook up.
    retention_seconds: float = 86_400.0
    # Budgets (app/budgets), 0 = no limit: agent runs per UTC day and at once for
    # the installation and for each repository (a repository's `budgets:` in
    # .github/codegen.yml may lower its own, never raise them), and the
    # follow-ups per task (CI fixes: a ceiling on `ci_fix.max_attempts`; review
    # fixes: the default and ceiling of `review_fix.max`).
    budget_runs_per_day: int = 200
    budget_concurrent_runs: int = 20
    budget_repo_runs_per_day: int = 50
    budget_repo_concurrent_runs: int = 5
    budget_ci_fixes_per_task: int = 0
    budget_review_fixes_per_task: int = 3
    # How often the budget queue is looked at without a run ending (the daily
    # limits reset at 00:00 UTC); 0 turns the periodic look off.
    budget_check_seconds: float = 60.0
    # Limits shared by every process (app/limits): Codegen creates per
    # organization in any window, and how long a process keeps an installation's
    # GitHub write lease while others may be waiting for it.
    codegen_creates_per_minute: int = 10
    codegen_create_window_seconds: float = 60.0
    github_write_hold_seconds: float = 5.0
    # Writes to one installation a first feedback may make back to back before the
    # interval applies (a token bucket: app/limits/writes.py).
    github_write_burst: int = 4
    # The REST API (app/api): requests per window, per API key and per client
    # address, counted in PostgreSQL so every replica shares the count.
    api_rate_limit: int = 100
    api_rate_window_seconds: float = 900.0
    # A header the proxy in front sets to the client's address (`Fly-Client-IP` on
    # Fly.io); unset: the TCP peer, which behind a proxy is the proxy.
    api_client_address_header: str | None = None

    @property
    def github_app_configured(self) -> bool:
        return self.github_app_id is not None and self.github_private_key is not None

    @property
    def health_port(self) -> int:
        """Where `/health` and `/metrics` answer: METRICS_PORT when set (every role
        listens there), else the web port, which a worker alone listens on too."""
        return self.metrics_port or self.port

    @property
    def codegen_simulated(self) -> bool:
        """Simulated Codegen when asked for, or when there is no key to use."""
        return self.codegen_enable_mock_mode or not self.codegen_api_key

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line."""
        values = [
            self.github_private_key,
            self.github_webhook_secret,
            self.github_client_secret,
            self.codegen_api_key,
            self.sentry_dsn,
            self.notify_webhook_url,
            self.webhook_proxy_url,
            self.setup_token,
            self.admin_token,
            self.session_secret,
            *(entry.split(":", 2)[-1].strip() for entry in self.api_keys),  # name:scope:key
        ]
        if self.database_url:
            password = urlsplit(self.database_url).password
            values.append(password)
        return tuple(v for v in values if v and len(v) >= 4)


# Spellings other tools use for the same levels (`warn` is Node's, and Probot's).
_LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}


_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse `.env` text: KEY=VALUE lines, `#` comments, quoted values that may
    span lines (a PEM key pasted between double quotes)."""
    result: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            raise ConfigError(".env", f"line {i} is not KEY=VALUE: {line[:40]!r}")
        key, value = match.group(1), match.group(2).strip()
        if value[:1] in {'"', "'"}:
            quote = value[0]
            body = value[1:]
            while not body.rstrip().endswith(quote) and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            body = body.rstrip()
            if not body.endswith(quote):
                raise ConfigError(".env", f"unterminated quoted value for {key}")
            value = body[:-1]
            if quote == '"':
                value = value.replace("\\n", "\n")
        else:
            value = value.split(" #", 1)[0].strip()
        result[key] = value
    return result


# Past this a count, a size or a time in seconds (31 years) means nothing, and
# larger ones overflow what they are used in (a timedelta, a PostgreSQL bigint):
# refused at start with the setting's name, not as an OverflowError later.
LARGEST = 1_000_000_000


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    if value > LARGEST:
        raise ConfigError(name, f"must be at most {LARGEST:,}, got {raw}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, positive: bool = False) -> float:
    """`positive`: 0 is refused too (a window of no length would limit nothing)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(name, f"must be a finite number, got {raw!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(name, f"must be {'above 0' if positive else 'at least 0'}, got {raw}")
    if value > LARGEST:
        raise ConfigError(name, f"must be at most {LARGEST:,}, got {raw}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(name, f"must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _private_key(env: Mapping[str, str]) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    name = "GITHUB_PRIVATE_KEY"
    pem = env.get(name, "").strip()
    path = env.get("GITHUB_PRIVATE_KEY_PATH", "").strip()
    if not pem and path:
        name = "GITHUB_PRIVATE_KEY_PATH"
        try:
            pem = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(name, f"cannot read {path}: {exc.strerror}") from None
    if not pem:
        return None
    pem = pem.replace("\\n", "\n")
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(name, "is not a PEM-encoded private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(name, "must be an RSA key (GitHub Apps sign with RS256)")
    return pem


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError("DATABASE_URL", f"is malformed ({exc})") from None
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigError(
            "DATABASE_URL", "must start with postgresql:// (e.g. postgresql://user:pw@host/db)"
        )
    if not parts.netloc and "host=" not in parts.query:
        raise ConfigError("DATABASE_URL", "names no host")
    return raw


def _codegen_org(env: Mapping[str, str]) -> int | None:
    raw = env.get("CODEGEN_ORG_ID", "").strip()
    if raw and not raw.isdigit():
        raise ConfigError("CODEGEN_ORG_ID", f"must be the numeric organization id, got {raw!r}")
    mock = env.get("CODEGEN_ENABLE_MOCK_MODE", "").strip().lower() in {"1", "true", "yes", "on"}
    if env.get("CODEGEN_API_KEY") and not raw and not mock:
        raise ConfigError("CODEGEN_ORG_ID", "must be set with CODEGEN_API_KEY (Codegen's org id)")
    return int(raw) if raw else None


def _setup_token(env: Mapping[str, str]) -> str | None:
    raw = env.get("SETUP_TOKEN", "").strip()
    if raw and len(raw) < 16:
        raise ConfigError("SETUP_TOKEN", "must be at least 16 characters (it guards registration)")
    return raw or None


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Environment wins over `.env`, so a deployment can override a checked-out file."""
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update(parse_dotenv(dotenv.read_text()))
    env.update(os.environ if environ is None else environ)

    app_id_raw = env.get("GITHUB_APP_ID", "").strip()
    app_id: int | None = None
    if app_id_raw:
        if not app_id_raw.isdigit():
            raise ConfigError("GITHUB_APP_ID", f"must be the App's numeric id, got {app_id_raw!r}")
        app_id = int(app_id_raw)
    private_key = _private_key(env)
    if (app_id is None) != (private_key is None):
        missing = "GITHUB_PRIVATE_KEY" if app_id is not None else "GITHUB_APP_ID"
        raise ConfigError(missing, "must be set too: an App id and its private key go together")

    log_format = env.get("LOG_FORMAT", "text").strip().lower() or "text"
    if log_format not in {"text", "json"}:
        raise ConfigError("LOG_FORMAT", f"must be text or json, got {log_format!r}")
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    log_level = _LOG_LEVEL_ALIASES.get(log_level, log_level)
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            "LOG_LEVEL", f"must be DEBUG, INFO, WARNING (or WARN) or ERROR, got {log_level!r}"
        )

    port = _int(env, "PORT", 3000, minimum=1)
    if port > 65535:
        raise ConfigError("PORT", f"must be at most 65535, got {port}")
    metrics_port = _int(env, "METRICS_PORT", 0, minimum=1) or None
    if metrics_port is not None and metrics_port > 65535:
        raise ConfigError("METRICS_PORT", f"must be at most 65535, got {metrics_port}")

    return Settings(
        github_app_id=app_id,
        github_private_key=private_key,
        github_webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
        github_app_slug=env.get("GITHUB_APP_SLUG", "").strip() or None,
        github_api_url=_url(env, "GITHUB_API_URL", "https://api.github.com"),
        github_write_interval=_float(env, "GITHUB_WRITE_INTERVAL", 1.0),
        github_web_url=_url(env, "GITHUB_WEB_URL", "https://github.com"),
        github_client_id=env.get("GITHUB_CLIENT_ID", "").strip() or None,
        github_client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
        public_url=_url(env, "PUBLIC_URL", "http://unset") if env.get("PUBLIC_URL") else None,
        webhook_proxy_url=(
            _url(env, "WEBHOOK_PROXY_URL", "http://unset") if env.get("WEBHOOK_PROXY_URL") else None
        ),
        setup_token=_setup_token(env),
        admin_token=_admin_secret(env, "ADMIN_TOKEN"),
        session_secret=_admin_secret(env, "SESSION_SECRET"),
        dashboard_admins=tuple(
            a.strip().lower() for a in env.get("DASHBOARD_ADMINS", "").split(",") if a.strip()
        ),
        env_file=dotenv if dotenv is not None else Path(".env"),
        codegen_api_key=env.get("CODEGEN_API_KEY") or None,
        codegen_org_id=_codegen_org(env),
        codegen_api_url=_url(env, "CODEGEN_API_URL", "https://api.codegen.com"),
        codegen_enable_mock_mode=_bool(env, "CODEGEN_ENABLE_MOCK_MODE"),
        database_url=_database_url(env),
        data_dir=Path(env.get("DATA_DIR", "").strip() or ".data"),
        host=env.get("HOST", "").strip() or "0.0.0.0",  # noqa: S104
        port=port,
        metrics_port=metrics_port,
        trigger_label=env.get("TRIGGER_LABEL", "").strip() or "codegen",
        max_concurrent_workflows=_int(env, "MAX_CONCURRENT_WORKFLOWS", 5, minimum=1),
        workflow_timeout_ms=_int(env, "WORKFLOW_TIMEOUT", 300_000, minimum=1000),
        agent_run_timeout_ms=_int(env, "AGENT_RUN_TIMEOUT", 3_600_000, minimum=60_000),
        api_keys=_api_keys(env),
        sentry_dsn=env.get("SENTRY_DSN", "").strip() or None,
        notify_webhook_url=(
            _url(env, "NOTIFY_WEBHOOK_URL", "http://unset")
            if env.get("NOTIFY_WEBHOOK_URL")
            else None
        ),
        log_level=log_level,
        log_format=log_format,
        job_lease_seconds=_float(env, "JOB_LEASE_SECONDS", 60.0),
        job_max_attempts=_int(env, "JOB_MAX_ATTEMPTS", 8, minimum=1),
        job_poll_seconds=_float(env, "JOB_POLL_SECONDS", 5.0),
        delivery_sweep_seconds=_float(env, "DELIVERY_SWEEP_SECONDS", 600.0),
        delivery_redeliver_interval=_float(env, "DELIVERY_REDELIVER_INTERVAL", 1.0),
        job_retry_base_seconds=_float(env, "JOB_RETRY_BASE_SECONDS", 2.0),
        shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 25.0),
        run_poll_first_seconds=_float(env, "RUN_POLL_FIRST_SECONDS", 10.0),
        run_poll_max_seconds=_float(env, "RUN_POLL_MAX_SECONDS", 120.0),
        retention_days=_retention_days(env),
        retention_batch_size=_int(env, "RETENTION_BATCH_SIZE", 500, minimum=1),
        retention_pause_seconds=_float(env, "RETENTION_PAUSE_SECONDS", 0.05),
        retention_seconds=_float(env, "RETENTION_SECONDS", 86_400.0),
        budget_runs_per_day=_int(env, "BUDGET_RUNS_PER_DAY", 200),
        budget_concurrent_runs=_int(env, "BUDGET_CONCURRENT_RUNS", 20),
        budget_repo_runs_per_day=_int(env, "BUDGET_REPO_RUNS_PER_DAY", 50),
        budget_repo_concurrent_runs=_int(env, "BUDGET_REPO_CONCURRENT_RUNS", 5),
        budget_ci_fixes_per_task=_int(env, "BUDGET_CI_FIXES_PER_TASK", 0),
        budget_review_fixes_per_task=_int(env, "BUDGET_REVIEW_FIXES_PER_TASK", 3),
        budget_check_seconds=_float(env, "BUDGET_CHECK_SECONDS", 60.0),
        codegen_creates_per_minute=_int(env, "CODEGEN_CREATES_PER_MINUTE", 10, minimum=1),
        codegen_create_window_seconds=_float(
            env, "CODEGEN_CREATE_WINDOW_SECONDS", 60.0, positive=True
        ),
        github_write_hold_seconds=_float(env, "GITHUB_WRITE_HOLD_SECONDS", 5.0),
        github_write_burst=_write_burst(env),
        api_rate_limit=_int(env, "API_RATE_LIMIT", 100, minimum=1),
        api_rate_window_seconds=_api_window(env),
        api_client_address_header=env.get("API_CLIENT_ADDRESS_HEADER", "").strip() or None,
    )


def _write_burst(env: Mapping[str, str]) -> int:
    """1..20: above 20, a minute at one write a second could pass GitHub's 80
    content-creating requests a minute."""
    value = _int(env, "GITHUB_WRITE_BURST", 4, minimum=1)
    if value > 20:
        raise ConfigError("GITHUB_WRITE_BURST", f"must be at most 20, got {value}")
    return value


def _admin_secret(env: Mapping[str, str], name: str) -> str | None:
    """A key that opens the dashboard or signs its sessions: long enough not to guess."""
    value = env.get(name, "").strip() or None
    if value is not None and len(value) < 24:
        raise ConfigError(name, "must be at least 24 characters (a random string)")
    return value


# GitHub lets a delivery be redelivered for 3 days; a command's ledger row is what
# keeps a redelivered comment from acting twice, so nothing is deleted younger
# than a week (app/retention/jobs.py).
RETENTION_MIN_DAYS = 7


def _retention_days(env: Mapping[str, str]) -> int:
    days = _int(env, "RETENTION_DAYS", 30)
    if 0 < days < RETENTION_MIN_DAYS:
        raise ConfigError(
            "RETENTION_DAYS",
            f"must be 0 (keep everything) or at least {RETENTION_MIN_DAYS}, got {days}: "
            "GitHub redelivers for 3 days and the command ledger must outlive that",
        )
    if days > 36_500:  # a cut-off before year 1 is out of a timestamp's range
        raise ConfigError("RETENTION_DAYS", f"must be at most 36,500 (100 years), got {days}")
    return days


def _api_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """`name:scope:key` entries, comma separated, checked now (app/api/keys.py)."""
    from app.api.keys import KeyFormatError, parse_keys

    entries = tuple(k.strip() for k in env.get("API_KEYS", "").split(",") if k.strip())
    try:
        parse_keys(entries)
    except KeyFormatError as exc:
        raise ConfigError("API_KEYS", str(exc)) from None
    return entries


def _api_window(env: Mapping[str, str]) -> float:
    seconds = _float(env, "API_RATE_WINDOW_SECONDS", 900.0)
    if seconds < 1:
        raise ConfigError("API_RATE_WINDOW_SECONDS", f"must be at least 1, got {seconds:g}")
    return seconds
