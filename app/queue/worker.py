"""The worker loop: claim jobs, run at most N at once, keep their leases alive,
retry failures, and on shutdown hand back what did not finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg

from app.observability import metrics
from app.observability.logs import job_id_var, redactor
from app.queue import periodic
from app.queue import store as jobs_sql

log = logging.getLogger(__name__)

JobHandler = Callable[[jobs_sql.Job], Awaitable[None]]


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help; the job goes straight to dead.
    `show_traceback=False` for a known condition whose message says it all (a
    setting missing): then the log line and the row keep the message alone,
    which also spares a traceback's formatting per job when every job hits it."""

    def __init__(self, message: str, *, show_traceback: bool = True) -> None:
        super().__init__(message)
        self.show_traceback = show_traceback


class RescheduleJob(Exception):
    """Raised by a handler that must wait (a rate limit): the job runs again after
    `delay` seconds, without spending an attempt or holding a worker slot."""

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class Busy(Protocol):
    """Work in the same process that goes first (the webhook intake in `serve`)."""

    def busy(self) -> bool: ...

    async def wait_idle(self) -> None: ...


# While `yield_to` is busy the worker claims nothing for up to this long after
# its last claim, then claims as usual: at most `concurrency` jobs a deferral
# while the intake stays saturated, and no wait at all once it is idle.
MAX_DEFERRAL_SECONDS = 0.5


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        handlers: dict[str, JobHandler],
        *,
        concurrency: int = 5,
        lease_seconds: float = 60.0,
        poll_seconds: float = 5.0,
        retry_base_seconds: float = 2.0,
        on_dead: dict[str, JobHandler] | None = None,
        schedules: Sequence[periodic.Schedule] = (),
        yield_to: Busy | None = None,
        max_deferral_seconds: float = MAX_DEFERRAL_SECONDS,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.retry_base_seconds = retry_base_seconds
        # Called for jobs that died with their worker on their last attempt (their
        # handler never got to clean up), by kind.
        self.on_dead = on_dead or {}
        # Periodic kinds: each worker makes sure their next occurrence exists.
        self.schedules = list(schedules)
        self._scheduled = not self.schedules
        # The intake in this process: GitHub needs its answer within 10 s, the
        # stored jobs can wait (bounded by max_deferral_seconds).
        self.yield_to = yield_to
        self.max_deferral_seconds = max_deferral_seconds
        self._last_claim = 0.0
        self.deferrals = 0  # times a claim waited for the intake (tests, benchmarks)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="worker-loop")

    async def stop(self, grace_seconds: float) -> None:
        """Stop claiming, let in-flight jobs finish within the grace period,
        release the rest back to the queue."""
        self._stopping.set()
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        pending = list(self._running.values())
        if pending:
            log.info("waiting up to %.0fs for %d running job(s)", grace_seconds, len(pending))
            _, still = await asyncio.wait(pending, timeout=grace_seconds)
            unfinished = [jid for jid, task in self._running.items() if task in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            released = await jobs_sql.release(self.pool, self.owner, unfinished)
            if released:
                log.info("released %d unfinished job(s) back to the queue", released)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    # -- main loop ---------------------------------------------------------
    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(self.dsn)
            await self._listener.add_listener(jobs_sql.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            self._listener = None
            log.warning("cannot LISTEN for new jobs (%s); polling only", exc)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        await self._listen()
        heartbeat = asyncio.create_task(self._heartbeat(), name="worker-heartbeat")
        last_reap = 0.0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    if time.monotonic() - last_reap > min(self.lease_seconds / 2, 10):
                        last_reap = time.monotonic()
                        reaped, dead = await jobs_sql.reclaim_expired(
                            self.pool, self.owner, self.lease_seconds
                        )
                        if reaped:
                            log.warning("reclaimed %d job(s) with expired leases", reaped)
                        for job in dead:  # leased to us: clean up, then mark dead
                            await self._after_death(job)
                            await jobs_sql.bury(self.pool, job.id, self.owner)
                        if self._listener is None or self._listener.is_closed():
                            await self._listen()
                    if not self._scheduled:  # at start-up, or until the database answers
                        await self._ensure_schedules()
                    free = self.concurrency - len(self._running)
                    claimed = []
                    if free > 0:
                        await self._defer_to_intake()
                        if self._stopping.is_set():
                            break
                        self._last_claim = time.monotonic()
                        claimed = await jobs_sql.claim(
                            self.pool, self.owner, free, self.lease_seconds
                        )
                        for job in claimed:
                            self._running[job.id] = asyncio.create_task(
                                self._execute(job), name=f"job-{job.id}"
                            )
                    if free > 0 and len(claimed) == free:
                        continue  # maybe more are ready
                    timeout = self.poll_seconds
                    if free > 0:
                        nxt = await jobs_sql.seconds_until_next(self.pool)
                        if nxt is not None:
                            timeout = min(timeout, max(nxt, 0.05))
                except Exception as exc:  # the loop must outlive any database trouble
                    log.error("queue unavailable: %s: %s", exc.__class__.__name__, exc)
                    timeout = self.poll_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _defer_to_intake(self) -> None:
        """While the intake in this process has deliveries waiting for their
        commit, wait until it has none, or until `max_deferral_seconds` after
        the last claim: the core goes to answering GitHub, and no job waits
        unboundedly."""
        if self.yield_to is None or not self.yield_to.busy():
            return
        remaining = self._last_claim + self.max_deferral_seconds - time.monotonic()
        if remaining <= 0:
            return
        self.deferrals += 1
        idle = asyncio.ensure_future(self.yield_to.wait_idle())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait(
                (idle, stopping), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            idle.cancel()
            stopping.cancel()

    async def _ensure_schedules(self) -> None:
        for schedule in self.schedules:
            added = await periodic.ensure(self.pool, schedule)
            if added is not None:
                log.info("scheduled periodic job %s (every %.0fs)", schedule.kind, schedule.every)
        self._scheduled = True

    async def _after_death(self, job: jobs_sql.Job) -> None:
        handler = self.on_dead.get(job.kind)
        if handler is None:
            return
        try:
            await handler(job)
        except Exception:
            log.exception("could not clean up after dead job %s (%s)", job.id, job.kind)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._running:
                try:
                    await jobs_sql.renew_leases(
                        self.pool, self.owner, list(self._running), self.lease_seconds
                    )
                except Exception as exc:  # keep beating; the next renewal may work
                    log.error("could not renew job leases: %s: %s", exc.__class__.__name__, exc)

    async def _execute(self, job: jobs_sql.Job) -> None:
        token = job_id_var.set(job.id)
        started = time.perf_counter()
        outcome = "done"
        try:
            handler = self.handlers.get(job.kind)
            if handler is None:
                raise PermanentJobError(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except asyncio.CancelledError:
            outcome = "released"
            raise
        except RescheduleJob as exc:
            outcome = "rescheduled"
            await jobs_sql.reschedule(self.pool, job.id, self.owner, exc.delay, exc.reason)
            log.info("job %s (%s) waits %.1fs: %s", job.id, job.kind, exc.delay, exc.reason)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            quiet = isinstance(exc, PermanentJobError) and not exc.show_traceback
            if isinstance(exc, PermanentJobError):
                job = jobs_sql.Job(**{**job.__dict__, "max_attempts": job.attempts})
            detail = "" if quiet else traceback.format_exc(limit=8)
            kept = redactor.scrub(f"{error}\n\n{detail}" if detail else error)  # for the operator
            try:
                if job.attempts >= job.max_attempts and job.kind in self.on_dead:
                    # Failed for good: the same clean-up as a lost worker's, run while
                    # the lease is held and before the job is marked dead, so a crash
                    # in between leaves it to be reclaimed and cleaned up, not lost.
                    await jobs_sql.record_error(self.pool, job.id, self.owner, kept)
                    await self._after_death(job)
                outcome = await jobs_sql.fail(
                    self.pool, job, self.owner, kept, retry_base=self.retry_base_seconds
                )
            except Exception:
                log.exception("could not record failure of job %s; its lease will expire", job.id)
                outcome = "lost"
            level = logging.ERROR if outcome == "dead" else logging.WARNING
            log.log(
                level,
                "job %s (%s) attempt %d failed -> %s: %s",
                job.id,
                job.kind,
                job.attempts,
                outcome,
                error,
                exc_info=outcome == "dead" and not quiet,
            )
        else:
            try:
                await jobs_sql.complete(self.pool, job.id, self.owner)
            except Exception:
                # The work is done but not recorded: the lease expires and the job runs
                # again, which every handler tolerates (they are idempotent).
                log.exception("could not mark job %s done", job.id)
                outcome = "lost"
        finally:
            metrics.JOBS.labels(kind=job.kind, outcome=outcome).inc()
            metrics.JOB_SECONDS.labels(kind=job.kind).observe(time.perf_counter() - started)
            self._running.pop(job.id, None)
            job_id_var.reset(token)
            self._wake.set()
