"""What one delivery costs on disk: its `webhook_deliveries` row (heap, TOAST,
index entries) and its `jobs` row, for the reference `issues.labeled` payload
(benchmarks/reference, about 12 KB), as stored (zstd-compressed by the bot,
in the row: migration 018) and, for comparison, as stored before (sent
uncompressed, `STORAGE EXTERNAL`: TOAST) and compressed by PostgreSQL with
pglz and lz4. Beside the sizes: the WAL written and the CPU time of the
database backend per delivery while inserting (`pg_current_wal_lsn()` and
/proc/<backend pid>/stat before and after), and the client's wall clock.

Each variant gets a fresh database of a fresh embedded PostgreSQL with every
migration applied; DELIVERIES deliveries are written with the intake's own
statement (`app.deliveries.store.insert_batch`, 500 a statement, as under
load), then the sizes are read with `pg_relation_size`,
`pg_total_relation_size` and `pg_indexes_size` and divided by the count. A
second reading follows processing (each delivery `processed`, its job `done`,
as the worker leaves them) and a VACUUM, as autovacuum would.

    .venv/bin/python benchmarks/storage.py [--deliveries 20000] [--batch 500]

About 15 s and 500 MB of disk (two variants of 20,000 deliveries, and the
WAL) in a temporary directory, removed on exit. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import EmbeddedPostgres, ensure_database  # noqa: E402
from app.deliveries.store import IncomingDelivery, encode_payloads, insert_batch  # noqa: E402
from app.migrations import migrate  # noqa: E402

PAYLOAD = (ROOT / "benchmarks" / "reference" / "issues-labeled-with-installation.json").read_bytes()

# name -> (statements run after the migrations, whether the bot compresses)
VARIANTS: dict[str, tuple[list[str], bool]] = {
    "as shipped: zstd level 1 by the bot, in the row": ([], True),
    "before: sent uncompressed, STORAGE EXTERNAL (TOAST)": ([], False),
    "sent uncompressed, pglz (STORAGE EXTENDED)": (
        [
            "ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE EXTENDED",
            "ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION pglz",
        ],
        False,
    ),
    "sent uncompressed, lz4 (STORAGE EXTENDED)": (
        [
            "ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE EXTENDED",
            "ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION lz4",
        ],
        False,
    ),
}


def backend_cpu_seconds(pid: int) -> float:
    """utime + stime of a PostgreSQL backend (same machine, readable /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SIZES = """
SELECT pg_relation_size(c.oid) AS heap,
       coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast,
       pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total
FROM pg_class c WHERE c.oid = $1::regclass
"""


async def measure(conn: asyncpg.Connection, count: int) -> dict[str, dict[str, float]]:
    """Bytes per delivery, by table and part."""
    out = {}
    for table in ("webhook_deliveries", "jobs"):
        row = await conn.fetchrow(SIZES, table)
        out[table] = {part: row[part] / count for part in ("heap", "toast", "indexes", "total")}
    return out


async def run_variant(
    pg: EmbeddedPostgres, name: str, setup: list[str], compress: bool, count: int, batch_size: int
) -> dict:
    database = f"storage_{abs(hash(name)) % 10**8}"
    await ensure_database(pg.uri("postgres"), database)
    conn = await asyncpg.connect(pg.uri(database))
    try:
        await migrate(conn)
        for statement in setup:
            await conn.execute(statement)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
        cpu = backend_cpu_seconds(backend)
        started = time.perf_counter()
        for start in range(0, count, batch_size):
            batch = [
                IncomingDelivery(str(uuid.uuid4()), "issues", "labeled", 5150, PAYLOAD)
                for _ in range(min(batch_size, count - start))
            ]
            bodies = [d.payload for d in batch]
            stored = encode_payloads(bodies) if compress else bodies
            await insert_batch(conn, batch, 8, stored)
        insert_seconds = time.perf_counter() - started
        cpu = backend_cpu_seconds(backend) - cpu
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", lsn)
        await conn.execute("VACUUM ANALYZE webhook_deliveries, jobs")
        stored = await measure(conn, count)
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'processed', processed_at = now()"
        )
        await conn.execute(
            "UPDATE jobs SET status = 'done', attempts = 1, finished_at = now(), updated_at = now()"
        )
        await conn.execute("VACUUM ANALYZE webhook_deliveries, jobs")
        processed = await measure(conn, count)
        return {
            "stored": stored,
            "processed": processed,
            "insert_us": insert_seconds / count * 1e6,
            "backend_us": cpu / count * 1e6,
            "wal_bytes": float(wal) / count,
        }
    finally:
        await conn.close()


def report(name: str, result: dict) -> None:
    print(
        f"\n{name}\n  insert {result['insert_us']:.0f} µs a delivery (wall clock), "
        f"PostgreSQL backend CPU {result['backend_us']:.0f} µs, "
        f"WAL {result['wal_bytes']:,.0f} bytes"
    )
    for stage in ("stored", "processed"):
        d, j = result[stage]["webhook_deliveries"], result[stage]["jobs"]
        print(
            f"  {stage:9}  delivery heap {d['heap']:6.0f}  toast {d['toast']:6.0f}  "
            f"indexes {d['indexes']:4.0f}  | job heap {j['heap']:4.0f}  indexes "
            f"{j['indexes']:4.0f}  | total {d['total'] + j['total']:6.0f} bytes"
        )


async def main(count: int, batch_size: int) -> None:
    print(
        f"payload: {len(PAYLOAD):,} bytes; {count:,} deliveries per variant, "
        f"{batch_size} a statement"
    )
    tmp = Path(tempfile.mkdtemp(prefix="storage-"))
    pg = EmbeddedPostgres(tmp)
    await asyncio.to_thread(pg.start)
    try:
        for name, (setup, compress) in VARIANTS.items():
            try:
                result = await run_variant(pg, name, setup, compress, count, batch_size)
            except asyncpg.PostgresError as exc:  # lz4 absent from this build
                print(f"\n{name}: not measured ({exc})")
                continue
            report(name, result)
    finally:
        await asyncio.to_thread(pg.stop)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="deliveries a statement")
    args = parser.parse_args()
    asyncio.run(main(args.deliveries, args.batch))
