"""`codegen-bot` command line: serve, migrate, replay, health."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import sys
import uuid
from pathlib import Path

import httpx

from app.config import ConfigError, Settings, load_settings
from app.migrations import MigrationError
from app.observability.logs import setup_logging


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
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        print(f"unhealthy: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text.strip()}")
    return 0 if response.status_code == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codegen-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web server and/or the job worker")
    serve.add_argument("--role", choices=["web", "worker", "all"], default="all")
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 3000")
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="apply pending database migrations and exit")
    migrate.set_defaults(func=cmd_migrate)
    replay = sub.add_parser("replay", help="sign a payload file and post it as a delivery")
    replay.add_argument("event", metavar="EVENT", help="X-GitHub-Event, e.g. issues")
    replay.add_argument("file", metavar="FILE", help="JSON payload file")
    replay.add_argument("--url", help="webhook URL (default: the local server)")
    replay.set_defaults(func=cmd_replay)
    health = sub.add_parser("health", help="exit 0 when the server reports healthy")
    health.add_argument("--url", help="server URL (default: the local server)")
    health.set_defaults(func=cmd_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"codegen-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, settings.secrets)
    try:
        return args.func(settings, args)
    except ConfigError as exc:  # e.g. no DATABASE_URL where there is no embedded server
        print(f"codegen-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"codegen-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
