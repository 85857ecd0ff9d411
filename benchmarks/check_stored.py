"""Durability check for the intake benchmark, run while codegen-bot is still up.

Connects to the bot's embedded PostgreSQL over its unix socket
(`postgresql://postgres@/codegen_bot?host=<DATA_DIR>/postgres`), or to the
server `--dsn` names (a stock PostgreSQL), and checks

* stored deliveries (rows in `webhook_deliveries`) >= --min-rows, the number
  of 2xx answers the load generator counted: nothing acknowledged was lost;
* every stored delivery has exactly one job (`jobs.kind = 'delivery'`,
  `payload->>'delivery_id'` = the delivery's id), and no such job points at a
  delivery that is not stored.

Prints one line `stored=N min_rows=N without_job=N multi_job=N orphan_jobs=N
jobs=N ok=0|1 fsync=.. synchronous_commit=..` (the two settings are reported,
not checked) and exits 0 when every check holds, 1 when one fails, 2 when the
database cannot be read.

    .venv/bin/python benchmarks/check_stored.py --data-dir benchmarks/.work/bot-data --min-rows 1000
    .venv/bin/python benchmarks/check_stored.py --dsn postgresql://... --min-rows 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg

QUERY = """
WITH per_delivery AS (
    SELECT payload->>'delivery_id' AS id, count(*) AS n
    FROM jobs
    WHERE kind = 'delivery'
    GROUP BY 1
)
SELECT
    (SELECT count(*) FROM webhook_deliveries) AS stored,
    (SELECT count(*) FROM webhook_deliveries d
        LEFT JOIN per_delivery p USING (id) WHERE p.id IS NULL) AS without_job,
    (SELECT count(*) FROM webhook_deliveries d
        JOIN per_delivery p USING (id) WHERE p.n > 1) AS multi_job,
    (SELECT count(*) FROM per_delivery p
        LEFT JOIN webhook_deliveries d USING (id) WHERE d.id IS NULL) AS orphan_jobs,
    (SELECT count(*) FROM jobs WHERE kind = 'delivery') AS jobs
"""

# Reported, not checked: whether a commit the intake waited for was on disk.
SETTINGS = ("fsync", "synchronous_commit")


def dsn_for(data_dir: Path) -> str:
    return f"postgresql://postgres@/codegen_bot?host={data_dir.resolve() / 'postgres'}"


async def check(dsn: str, min_rows: int) -> tuple[dict[str, int], dict[str, str], bool]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # REPEATABLE READ: all counts come from one snapshot.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            row = await conn.fetchrow(QUERY, timeout=120)
        settings = {
            name: await conn.fetchval("SELECT current_setting($1)", name) for name in SETTINGS
        }
    finally:
        await conn.close()
    counts = {key: int(value) for key, value in row.items()}
    ok = (
        counts["stored"] >= min_rows
        and counts["without_job"] == 0
        and counts["multi_job"] == 0
        and counts["orphan_jobs"] == 0
    )
    return counts, settings, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path, help="the bot's DATA_DIR (embedded server)")
    where.add_argument("--dsn", help="the bot's DATABASE_URL (any other server)")
    parser.add_argument(
        "--min-rows", type=int, default=0, help="2xx answers counted by the load generator"
    )
    args = parser.parse_args(argv)
    try:
        counts, settings, ok = asyncio.run(check(args.dsn or dsn_for(args.data_dir), args.min_rows))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"check_stored: cannot read the database: {exc}", file=sys.stderr)
        return 2
    print(
        f"stored={counts['stored']} min_rows={args.min_rows} "
        f"without_job={counts['without_job']} multi_job={counts['multi_job']} "
        f"orphan_jobs={counts['orphan_jobs']} jobs={counts['jobs']} ok={int(ok)} "
        + " ".join(f"{name}={value}" for name, value in settings.items())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
