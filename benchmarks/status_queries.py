"""/health and the status page (`/`) at scale: how long each answers when the
database holds ROWS finished jobs and ROWS deliveries (10 million by default),
as an instance that has run for a long time does. The bot's real server on a
fresh embedded PostgreSQL; the tables are filled with generate_series, then
vacuumed and analysed (as autovacuum keeps them); each page is then asked
REQUESTS times, one request at a time.

    .venv/bin/python benchmarks/status_queries.py [--rows 10000000] [--requests 20]

Filling 10 million rows of each takes a few minutes and about 5 GB of disk in
a temporary directory (removed on exit). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import harness
from harness import latency, running_bot

CHUNK = 1_000_000


async def fill(pool, rows: int) -> None:
    """`rows` finished jobs and processed deliveries, in chunks, plus a few jobs in
    every status that /health counts."""
    for start in range(0, rows, CHUNK):
        count = min(CHUNK, rows - start)
        await pool.execute(
            """INSERT INTO jobs (kind, payload, status, attempts, finished_at)
               SELECT 'delivery', jsonb_build_object('delivery_id', 'guid-' || g), 'done', 1,
                      now()
               FROM generate_series($1::bigint, $2::bigint) AS g""",
            start,
            start + count - 1,
        )
        await pool.execute(
            """INSERT INTO webhook_deliveries (id, event, action, payload, status, processed_at)
               SELECT 'guid-' || g, 'issues', 'opened', '\\x7b7d'::bytea, 'processed', now()
               FROM generate_series($1::bigint, $2::bigint) AS g""",
            start,
            start + count - 1,
        )
        print(f"  {start + count:,} rows of each", flush=True)
    await pool.execute(
        """INSERT INTO jobs (kind, status, run_at)
           SELECT 'delivery', s, now() + d
           FROM (VALUES ('queued', interval '-1 minute'), ('queued', interval '1 hour'),
                        ('running', interval '0'), ('dead', interval '0')) AS t(s, d)"""
    )
    await pool.execute("VACUUM ANALYZE jobs, webhook_deliveries")


async def timed(http: aiohttp.ClientSession, url: str, requests: int) -> tuple[list[float], int]:
    """Milliseconds of each of `requests` sequential GETs (after two unmeasured), and
    how many of them came back without figures: each page gives the database 3 s,
    then says it is not answering (/health with a 503)."""
    values, missed = [], 0
    for n in range(requests + 2):
        started = time.perf_counter()
        async with http.get(url) as response:
            text = await response.text()
        if n >= 2:
            values.append((time.perf_counter() - started) * 1000)
            missed += response.status != 200 or "not answering" in text
    return values, missed


async def main(rows: int, requests: int) -> None:
    async with harness.environment("status-queries-") as env:
        settings = env.settings(write_interval=0.0)
        async with running_bot(settings, worker=False) as bot, aiohttp.ClientSession() as http:
            started = time.monotonic()
            print(f"filling {rows:,} finished jobs and deliveries ...", flush=True)
            await fill(bot.runtime.pool, rows)
            print(f"filled, vacuumed and analysed in {time.monotonic() - started:.0f} s")
            health, health_missed = await timed(http, f"{bot.url}/health", requests)
            index, index_missed = await timed(http, f"{bot.url}/", requests)
            async with http.get(f"{bot.url}/health") as response:
                print("GET /health ->", await response.text())
            async with http.get(f"{bot.url}/") as response:
                page = await response.text()
            print("GET / deliveries ->", page.split("<th>deliveries</th>")[-1][:40])
    print(f"rows: {rows:,} finished jobs, {rows:,} deliveries")
    print(f"GET /health  {latency(health)}, max {max(health):.0f} ms, {health_missed} unanswered")
    print(f"GET /        {latency(index)}, max {max(index):.0f} ms, {index_missed} unanswered")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.requests))
