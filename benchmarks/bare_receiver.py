"""aiohttp's ceiling for the intake benchmark: a bare aiohttp webhook receiver.

Its only route, `POST /api/github/webhooks`, verifies `X-Hub-Signature-256`
with gidgethub and answers 202; it stores nothing. It runs on uvloop because
`codegen-bot serve` does (app/__main__.py), with the bot's runner options (no
access log), so the difference to codegen-bot is the bot's own work.

    WEBHOOK_SECRET=s .venv/bin/python benchmarks/bare_receiver.py --port 3002
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

import uvloop
from aiohttp import web
from gidgethub import BadRequest, ValidationFailure
from gidgethub.sansio import Event

SECRET_KEY = web.AppKey("secret", str)


async def webhook(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        event = Event.from_http(request.headers, body, secret=request.app[SECRET_KEY])
    except ValidationFailure as exc:
        return web.json_response({"error": str(exc)}, status=401)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=int(exc.status_code))
    return web.json_response({"delivery": event.delivery_id, "status": "queued"}, status=202)


def make_app(secret: str) -> web.Application:
    app = web.Application(client_max_size=25 * 1024 * 1024)  # GitHub's payload cap, as the bot
    app[SECRET_KEY] = secret
    app.router.add_post("/api/github/webhooks", webhook)
    return app


async def serve(secret: str, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_app(secret), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        print(f"bare receiver listening on http://{host}:{port}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    args = parser.parse_args(argv)
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        print("bare_receiver: set WEBHOOK_SECRET", file=sys.stderr)
        return 2
    uvloop.run(serve(secret, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
