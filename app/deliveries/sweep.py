"""Lost-delivery recovery: GitHub never retries a webhook delivery that failed
(the bot was down, restarting, or answered 5xx), but it keeps a log of every
attempt for a few days and redelivers one on request. This periodic job reads
that log down to where the last sweep ended, finds the deliveries that failed
and whose GUID the bot never stored, and asks GitHub to redeliver each, a
bounded number a second. The intake stores a GUID once, so a delivery that
arrives twice (a redelivery racing a late original) is still processed once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import gidgethub

from app.deliveries import store as deliveries_sql
from app.deliveries import sweep_store
from app.github import urls
from app.observability import metrics
from app.queue.registry import JobRegistry

log = logging.getLogger(__name__)

SWEEP_JOB = "deliveries.sweep"
# GitHub keeps an App's delivery log for 3 days: older entries cannot be redelivered.
LOG_RETENTION = timedelta(days=3)

# How long one sweep may hold the sweep without renewing (renewed every third of it).
LEASE_SECONDS = 300.0

registry = JobRegistry()


class SweepLeaseLost(Exception):
    """The sweep outlived its lease (another may have started): nothing is saved,
    and the redeliveries already asked for are found stored by the next sweep."""


@dataclass(frozen=True)
class LostDelivery:
    id: int  # the log entry to redeliver (the newest failed attempt of the GUID)
    guid: str


@dataclass(frozen=True)
class SweepResult:
    found: int
    redelivered: int
    failed: int
    position: int | None


def failed(item: dict[str, Any]) -> bool:
    """A log entry whose attempt did not reach the bot: not a 2xx, or GitHub's
    `status` (the response it got, "OK" when delivered) says otherwise."""
    code = item.get("status_code") or 0
    return not (200 <= code < 300) or item.get("status") != "OK"


def worth_redelivering(item: dict[str, Any]) -> bool:
    """A failure a redelivery can mend. A 4xx other than 408 and 429 is the
    bot's intake refusing those very bytes (a bad signature, not JSON): GitHub
    would send the same bytes again, be refused again, and log a new failure
    that the next sweep would redeliver, for ever."""
    code = item.get("status_code") or 0
    return failed(item) and not (400 <= code < 500 and code not in (408, 429))


def delivered_at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00"))


def lost(entries: list[dict[str, Any]], stored: set[str]) -> list[LostDelivery]:
    """From log entries (newest first) the deliveries to ask for again: one per
    GUID not stored, its newest attempt, unless any attempt of it succeeded;
    oldest first, so events are redelivered in the order they happened."""
    chosen: dict[str, LostDelivery] = {}
    succeeded: set[str] = set()
    for item in entries:
        guid = item["guid"]
        if not failed(item):
            succeeded.add(guid)
        elif guid not in chosen and guid not in stored and worth_redelivering(item):
            chosen[guid] = LostDelivery(int(item["id"]), guid)
    return [d for d in reversed(chosen.values()) if d.guid not in succeeded]


async def read_log(
    client: Any, jwt: str, stop_at: int | None, oldest: datetime
) -> tuple[list[dict[str, Any]], int | None]:
    """The log entries newer than `stop_at` and `oldest`, newest first (only
    the fields the sweep reads), and the newest id seen."""
    entries: list[dict[str, Any]] = []
    newest: int | None = None
    async for item in client.getiter(urls.hook_deliveries(), jwt=jwt):
        if stop_at is not None and item["id"] <= stop_at:
            break
        if delivered_at(item) < oldest:
            break
        newest = item["id"] if newest is None else max(newest, item["id"])
        entries.append(
            {k: item.get(k) for k in ("id", "guid", "status", "status_code", "delivered_at")}
        )
    return entries, newest


async def sweep(
    runtime: Any, *, now: datetime | None = None, lease_seconds: float = LEASE_SECONDS
) -> SweepResult | None:
    """One sweep; None when the App is not configured or another process is
    sweeping. A GitHub error while reading the log, or a 5xx or rate limit
    while redelivering, raises with the position unchanged (the job retries);
    a redelivery GitHub refuses (4xx) is counted failed and skipped."""
    github = runtime.github
    if not github.configured:
        return None
    now = now or datetime.now(UTC)
    interval = runtime.settings.delivery_redeliver_interval
    pool = runtime.pool
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    stop_at = await sweep_store.take(pool, owner, lease_seconds)
    renewed = time.monotonic()  # the lease runs from here, the log read included
    if stop_at is sweep_store.BUSY:
        log.info("another process is sweeping the delivery log")
        return None
    assert stop_at is None or isinstance(stop_at, int)
    try:
        client = github.app_client()
        entries, newest = await read_log(client, github.app_jwt(), stop_at, now - LOG_RETENTION)
        failures = list({e["guid"] for e in entries if failed(e)})
        stored = await deliveries_sql.stored_ids(pool, failures) if failures else set()
        todo = lost(entries, stored)
        metrics.LOST_DELIVERIES.labels(outcome="found").inc(len(todo))
        redelivered = refused = 0
        for i, delivery in enumerate(todo):
            if i and interval:
                await asyncio.sleep(interval)
            if time.monotonic() - renewed > lease_seconds / 3:
                if not await sweep_store.extend(pool, owner, lease_seconds):
                    raise SweepLeaseLost(
                        "the delivery sweep's lease ran out; the next one redoes it"
                    )
                renewed = time.monotonic()
            try:
                await client.post(urls.hook_redelivery(delivery.id), data=b"", jwt=github.app_jwt())
            except gidgethub.RateLimitExceeded:
                raise
            except gidgethub.BadRequest as exc:
                refused += 1
                metrics.LOST_DELIVERIES.labels(outcome="failed").inc()
                log.warning("GitHub refused to redeliver %s: %s", delivery.guid, exc)
                continue
            redelivered += 1
            metrics.LOST_DELIVERIES.labels(outcome="redelivered").inc()
    except BaseException:
        await asyncio.shield(sweep_store.release(pool, owner))
        raise
    if not await sweep_store.finish(pool, owner, newest):
        raise SweepLeaseLost("the delivery sweep's lease ran out; the next one redoes it")
    if todo:
        log.info(
            "delivery sweep: %d lost, %d redelivered, %d refused", len(todo), redelivered, refused
        )
    return SweepResult(len(todo), redelivered, refused, newest if newest is not None else stop_at)


@registry.periodic(SWEEP_JOB, every=lambda settings: settings.delivery_sweep_seconds)
async def run_sweep(runtime: Any, _job: Any) -> None:
    await sweep(runtime)
