"""codegen-bot: a GitHub App that turns labeled issues into Codegen agent runs.

Settings come from the environment and an optional .env file (see .env.example)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

from app.config import ConfigError, Settings, load_settings
from app.migrations import MigrationError
from app.observability.logs import setup_logging

T = TypeVar("T")


def _default_url(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{settings.port}{path}"


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.service import init_sentry, serve

    init_sentry(settings)
    import uvloop

    uvloop.run(serve(settings, role=args.role, port=args.port))
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from app.service import run_migrations

    applied = asyncio.run(run_migrations(settings))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.github_webhook_secret:
        print(
            "codegen-bot: GITHUB_WEBHOOK_SECRET is not set; cannot sign the payload",
            file=sys.stderr,
        )
        return 2
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"codegen-bot: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    signature = hmac.new(settings.github_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    delivery = str(uuid.uuid4())
    url = args.url or _default_url(settings, "/api/github/webhooks")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/codegen-bot-replay",
        "X-GitHub-Event": args.event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"codegen-bot: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} delivery={delivery} {response.text.strip()}")
    return 0 if response.is_success else 1


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    url = args.url or f"http://127.0.0.1:{settings.health_port}/health"
    if not url.rstrip("/").endswith("/health"):
        url = url.rstrip("/") + "/health"
    # Run every 30 s by the HEALTHCHECK: its one line of output is enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        print(f"unhealthy: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text.strip()}")
    return 0 if response.status_code == 200 else 1


async def _on_database(settings: Settings, use: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    from app.db import create_pool
    from app.service import database

    async with database(settings) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            return await use(pool)
        finally:
            await pool.close()


def cmd_check_config(_settings: Settings | None, args: argparse.Namespace) -> int:
    from app.repo_settings.config import CONFIG_PATH, MAX_CONFIG_CHARS, RepoConfig, parse_config

    # As much as the bot would look at: past 4 bytes a character, the file is
    # too long whatever it holds (and /dev/zero is never read to the end).
    cap = 4 * MAX_CONFIG_CHARS + 4
    try:
        with open(args.file, "rb") as fh:
            raw = fh.read(cap + 1)
    except OSError as exc:
        print(f"codegen-bot: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        text = raw.decode("utf-8") if len(raw) <= cap else raw.decode("utf-8", "replace")
    except UnicodeDecodeError:
        print(f"{args.file}: not UTF-8 text; the bot would ignore it", file=sys.stderr)
        return 1
    config, problems = parse_config(text, RepoConfig())
    if problems:
        # The lines the bot posts on an issue when it cannot use the file.
        print(f"{args.file}: the bot could not use this {CONFIG_PATH}; its defaults would apply:")
        print("\n".join(f"- {_printable(problem)}" for problem in problems))
        return 1
    print(
        _printable(
            f"{args.file}: no problems (trigger label `{config.trigger_label}`, "
            f"prompt style {config.prompt_style}, permission {config.permission})"
        )
    )
    return 0


def _printable(text: str) -> str:
    """`text` safe for a terminal: what the CLI prints often comes from a
    repository or GitHub, and an ESC sequence in it would act on the operator's
    terminal (clear it, retitle it, hide lines). Such characters are shown
    escaped; line breaks are kept."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode() for c in text
    )


def _one_line(text: str | None, width: int = 60) -> str:
    text = _printable((text or "").replace("\t", " ").replace("\n", " "))
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    from app.queue import store

    found = asyncio.run(
        _on_database(settings, lambda pool: store.list_jobs(pool, args.status, args.limit))
    )
    if not found:
        print(f"no {args.status or 'unfinished'} jobs")
        return 0
    print(f"{'ID':>8}  {'KIND':<22} {'STATUS':<8} {'TRIES':>5}  {'UPDATED (UTC)':<19}  LAST ERROR")
    for job in found:
        print(
            f"{job.id:>8}  {_one_line(job.kind, 22):<22} {job.status:<8} "
            f"{f'{job.attempts}/{job.max_attempts}':>5}  "
            f"{job.updated_at.strftime('%Y-%m-%d %H:%M:%S'):<19}  {_one_line(job.last_error)}"
        )
    return 0


def cmd_jobs_retry(settings: Settings, args: argparse.Namespace) -> int:
    from app.queue import store

    status = asyncio.run(_on_database(settings, lambda pool: store.retry(pool, args.id)))
    if status is None:
        print(f"codegen-bot: no job {args.id}", file=sys.stderr)
        return 1
    if status not in store.RETRYABLE:
        print(f"codegen-bot: job {args.id} is {status}; only dead or queued jobs are retried")
        return 1
    print(f"job {args.id} was {status}; queued to run now with its attempts reset")
    return 0


def cmd_deliveries_replay(settings: Settings, args: argparse.Namespace) -> int:
    from app.deliveries import store

    async def replay(pool: asyncpg.Pool) -> tuple[int | None, tuple[int, str] | None]:
        job_id = await store.replay(pool, args.guid, settings.job_max_attempts)
        return job_id, (await store.unfinished_job(pool, args.guid) if job_id is None else None)

    job_id, busy = asyncio.run(_on_database(settings, replay))
    if busy is not None:
        print(
            f"codegen-bot: delivery {args.guid} is still being handled: job {busy[0]} is "
            f"{busy[1]}; replay it once that job is done",
            file=sys.stderr,
        )
        return 1
    if job_id is None:
        print(f"codegen-bot: no stored delivery {args.guid}", file=sys.stderr)
        return 1
    print(f"delivery {args.guid} queued again as job {job_id}")
    return 0


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, got {raw!r}")
    return int(raw)


def _version() -> str:
    try:
        return metadata.version("codegen-bot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _command(
    sub: argparse._SubParsersAction, name: str, summary: str, details: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose `--help` says what it does (and `codegen-bot -h` lists it)."""
    return sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + "." + (f"\n\n{details}" if details else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegen-bot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(
        sub,
        "serve",
        "run the web server and/or the job worker until SIGTERM",
        "Migrates first. On SIGTERM or SIGINT it stops taking work, lets running jobs\n"
        "finish within SHUTDOWN_GRACE_SECONDS, hands the rest back and exits 0.\n"
        "/health and /metrics answer on METRICS_PORT when it is set (every role),\n"
        "else on the web port; a worker alone listens there for them only.",
    )
    serve.add_argument(
        "--role",
        choices=["web", "worker", "all"],
        default="all",
        help="web: webhooks and pages; worker: jobs; all (default): both",
    )
    serve.add_argument("--port", type=int, default=None, help="web port (default: PORT or 3000)")
    serve.set_defaults(func=cmd_serve)

    migrate = _command(
        sub,
        "migrate",
        "apply pending database migrations and exit",
        "Safe to run from several machines at once (an advisory lock serialises them);\n"
        "Fly runs it as the release command before new machines start.",
    )
    migrate.set_defaults(func=cmd_migrate)

    replay = _command(
        sub,
        "replay",
        "sign a payload file with the webhook secret and post it as a new delivery",
        "For trying a handler by hand: a fresh X-GitHub-Delivery id each time.\n"
        "To run a delivery GitHub already sent again, use `deliveries replay GUID`.",
    )
    replay.add_argument("event", metavar="EVENT", help="X-GitHub-Event, e.g. issues")
    replay.add_argument("file", metavar="FILE", help="JSON payload file")
    replay.add_argument("--url", help="webhook URL (default: the local server)")
    replay.set_defaults(func=cmd_replay)

    health = _command(
        sub,
        "health",
        "exit 0 when the server's /health answers 200 (the Docker HEALTHCHECK)",
    )
    health.add_argument("--url", help="server URL (default: 127.0.0.1 on METRICS_PORT, else PORT)")
    health.set_defaults(func=cmd_health)

    check = _command(
        sub,
        "check-config",
        "check a repository's .github/codegen.yml as the bot would read it",
        "Prints the problems the bot would post on the issue, and exits 1 when\n"
        "there are any. Needs no database and no App credentials.",
    )
    check.add_argument("file", metavar="FILE", help="path to a codegen.yml")
    check.set_defaults(func=cmd_check_config, needs_settings=False)

    jobs = _command(sub, "jobs", "list the job queue, or retry a job")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    jobs_list = _command(
        jobs_sub,
        "list",
        "list jobs, newest first (default: the unfinished ones)",
        "A dead job ran out of attempts; LAST ERROR is the first line of why\n"
        "(the whole traceback is in the jobs table's last_error).",
    )
    from app.queue.store import JOB_STATUSES

    jobs_list.add_argument("--status", choices=JOB_STATUSES, help="only jobs with this status")
    jobs_list.add_argument(
        "--limit", type=_positive, default=50, help="at most this many (default 50)"
    )
    jobs_list.set_defaults(func=cmd_jobs_list)
    jobs_retry = _command(
        jobs_sub,
        "retry",
        "run a dead (or waiting) job again now, with its attempts reset",
        "The job's clean-up already ran when it died; the job itself checks what\nis left to do.",
    )
    jobs_retry.add_argument("id", metavar="ID", type=int, help="job id (from `jobs list`)")
    jobs_retry.set_defaults(func=cmd_jobs_retry)

    deliveries = _command(sub, "deliveries", "act on stored webhook deliveries")
    deliveries_sub = deliveries.add_subparsers(
        dest="deliveries_command", required=True, metavar="ACTION"
    )
    deliveries_replay = _command(
        deliveries_sub,
        "replay",
        "run a stored delivery's handlers again",
        "Queues a new job for the delivery, on the payload stored when GitHub sent it\n"
        "(no signature to forge, nothing to fetch again).",
    )
    deliveries_replay.add_argument(
        "guid", metavar="GUID", help="the X-GitHub-Delivery id (GitHub's Recent Deliveries)"
    )
    deliveries_replay.set_defaults(func=cmd_deliveries_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "needs_settings", True):
        return args.func(None, args)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"codegen-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, settings.secrets)
    try:
        return args.func(settings, args)
    except ConfigError as exc:
        print(f"codegen-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"codegen-bot: {exc}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as exc:
        print(f"codegen-bot: database error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if args.command not in ("jobs", "deliveries"):
            raise
        print(f"codegen-bot: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
