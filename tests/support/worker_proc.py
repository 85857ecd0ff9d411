"""A real worker process for crash tests: `python -m tests.support.worker_proc DSN`.

It runs the queue's Worker with one job kind, `sleep`, which records each
start in `job_log` and sleeps for `seconds`; SIGTERM stops it the way
`codegen-bot serve` stops."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from app.db import create_pool
from app.queue.store import Job
from app.queue.worker import Worker


async def main(dsn: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=4)

    async def sleep_job(job: Job) -> None:
        await pool.execute(
            "INSERT INTO job_log (job_id, pid, attempt) VALUES ($1, $2, $3)",
            job.id,
            os.getpid(),
            job.attempts,
        )
        await asyncio.sleep(job.payload["seconds"])
        await pool.execute(
            "UPDATE job_log SET finished = true WHERE job_id = $1 AND pid = $2", job.id, os.getpid()
        )

    worker = Worker(
        pool,
        dsn,
        {"sleep": sleep_job},
        concurrency=int(os.environ.get("CONCURRENCY", "2")),
        lease_seconds=float(os.environ.get("LEASE", "2")),
        poll_seconds=0.2,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await worker.start()
    print("ready", flush=True)
    await stop.wait()
    await worker.stop(float(os.environ.get("GRACE", "5")))
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
