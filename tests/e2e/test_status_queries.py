"""/health, /metrics and the status page stay cheap however many jobs and
deliveries are stored: with a million finished jobs and a million deliveries,
every query those pages run (captured from the driver as they run it) reads a
bounded number of rows, and the figures they show are right."""

from __future__ import annotations

import json
import re

import asyncpg
import pytest

from app.deliveries.store import EXACT_COUNT_LIMIT, describe_count

ROWS = 1_000_000
BIG_TABLES = {"jobs", "webhook_deliveries"}
MOST_ROWS_READ = 20_000  # 2 % of each table


def scans(plan: dict, limited: bool = False):
    """(node, under a Limit) for every node of an EXPLAIN (FORMAT JSON) plan."""
    yield plan, limited
    for child in plan.get("Plans", ()):
        yield from scans(child, limited or plan["Node Type"] == "Limit")


def rows_read(node: dict) -> int:
    """Rows a scan node took from its relation (kept and filtered out), all loops."""
    per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    return per_loop * node.get("Actual Loops", 1)


async def fill(pool: asyncpg.Pool) -> None:
    """A million finished jobs and a million processed deliveries, plus a few
    jobs in each status that counts, then the statistics autovacuum would keep."""
    await pool.execute(
        """INSERT INTO jobs (kind, status, finished_at)
           SELECT 'delivery', 'done', now() FROM generate_series(1, $1)""",
        ROWS,
    )
    await pool.execute(
        """INSERT INTO webhook_deliveries (id, event, action, payload, status, processed_at)
           SELECT 'guid-' || g, 'issues', 'opened', '\\x7b7d'::bytea, 'processed', now()
           FROM generate_series(1, $1) AS g""",
        ROWS,
    )
    await pool.execute(
        """INSERT INTO jobs (kind, status, run_at)
           SELECT 'delivery', s, now() + d
           FROM (VALUES ('queued', interval '-1 minute'), ('queued', interval '-1 minute'),
                        ('queued', interval '-1 minute'), ('queued', interval '1 hour'),
                        ('queued', interval '1 hour'), ('running', interval '0'),
                        ('dead', interval '0'), ('dead', interval '0'), ('dead', interval '0'),
                        ('dead', interval '0')) AS t(s, d)"""
    )
    await pool.execute("ANALYZE jobs, webhook_deliveries")


async def test_health_and_status_page_read_no_finished_rows(intake_only, dsn):
    bot = intake_only
    await fill(bot.runtime.pool)
    ran: list[tuple[str, tuple]] = []

    async def capture(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda record: ran.append((record.query, tuple(record.args))))

    watched = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=capture)
    served_by, bot.runtime.pool = bot.runtime.pool, watched
    try:
        async with bot.session.get(f"{bot.url}/health") as response:
            assert response.status == 200
            health = await response.json()
        async with bot.session.get(f"{bot.url}/") as response:
            assert response.status == 200
            page = await response.text()
        async with bot.session.get(f"{bot.url}/metrics") as response:
            assert response.status == 200
            metrics = await response.text()
    finally:
        bot.runtime.pool = served_by
        await watched.close()

    assert health["queue_depth"] == 3
    assert health["jobs"] == {"ready": 3, "scheduled": 2, "running": 1, "dead": 4}
    assert health["oldest_queued_job_age_seconds"] >= 59
    assert "<th>jobs ready</th><td>3</td>" in page and "<th>jobs dead</th><td>4</td>" in page
    shown = re.search(r"<th>deliveries</th><td>about ([\d,]+)</td>", page)
    assert shown, page
    assert int(shown.group(1).replace(",", "")) == pytest.approx(ROWS, rel=0.05)
    assert 'codegen_bot_queue_depth{state="dead"} 4.0' in metrics

    # Every statement the pages ran, less the pool's own reset (several commands).
    queries = {(q, args) for q, args in ran if ";" not in q.strip().rstrip(";")}
    touched = {t for q, _ in queries for t in BIG_TABLES if re.search(rf"\b{t}\b", q)}
    assert touched == BIG_TABLES, queries
    async with bot.runtime.pool.acquire() as conn:
        for query, args in queries:
            [plan] = json.loads(
                await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *args)
            )
            for node, limited in scans(plan["Plan"]):
                if node.get("Relation Name") not in BIG_TABLES:
                    continue
                assert limited or node["Node Type"] != "Seq Scan", (query, node)
                assert rows_read(node) <= MOST_ROWS_READ, (query, node)


def test_delivery_count_is_exact_when_small_and_estimated_when_large():
    assert describe_count(1, EXACT_COUNT_LIMIT, None) == "1"
    assert describe_count(9_999, 10_000, 20) == "9999"
    assert describe_count(10_000, 10_000, 9_876_543) == "about 9,880,000"
    assert describe_count(10_000, 10_000, None) == "over 10,000"  # never analysed
    assert describe_count(10_000, 10_000, 4_000) == "over 10,000"  # statistics behind
