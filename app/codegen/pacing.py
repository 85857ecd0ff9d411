"""How the Codegen client paces itself and when it tries again, without I/O of
its own: creates are paced on our side (a sliding 60-second window, in this
process here, or shared by every process: app/limits/creates.py), a status a
retry cannot change is final, `Retry-After` is honoured, and otherwise retries
back off exponentially with jitter, bounded in attempts and in total time. A
request that may have been carried out (its answer lost) is retried only where
the caller says that is safe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from app.codegen.runs import CodegenError

log = logging.getLogger(__name__)

# A retry cannot change these answers.
FINAL_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 409, 410, 413, 422})


def retryable_status(status: int) -> bool:
    """Rate limits and server errors may pass; what a retry cannot change is final."""
    if status in FINAL_STATUSES:
        return False
    return status == 429 or (status >= 500 and status not in (501, 505))


def retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and time allowed for one call, and the backoff between tries."""

    max_attempts: int = 5
    max_retry_seconds: float = 120
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    def retrying(self, retry_ambiguous: bool = True) -> AsyncRetrying:
        """A tenacity loop for one call (`retry_ambiguous=False`: a request that
        may have been carried out is not sent again)."""

        def again(exc: BaseException) -> bool:
            if not isinstance(exc, CodegenError) or not exc.retryable:
                return False
            return retry_ambiguous or not exc.ambiguous

        return AsyncRetrying(
            retry=retry_if_exception(again),
            wait=self.wait,
            stop=stop_after_attempt(max(1, self.max_attempts))
            | stop_before_delay(self.max_retry_seconds),
            reraise=True,
            sleep=asyncio.sleep,
        )

    def wait(self, state: RetryCallState) -> float:
        """`Retry-After` when given, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, CodegenError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


# What a limiter that gave up while others in this process were ahead answers.
MIN_RETRY_WAIT = 0.1


async def lock_before(lock: asyncio.Lock, give_up_at: float | None) -> bool:
    """Take `lock`, waiting until monotonic `give_up_at` at most (None: forever)."""
    if give_up_at is None:
        await lock.acquire()
        return True
    try:
        async with asyncio.timeout_at(
            asyncio.get_running_loop().time() + give_up_at - time.monotonic()
        ):
            await lock.acquire()
    except TimeoutError:
        return False
    return True


class CreateLimiter(Protocol):
    """Paces Codegen creates: the in-process `SlidingWindowLimiter`, or the window
    every process shares (app/limits/creates.py `SharedWindow`).

    Codegen counts a create when it arrives, so a place taken for a request is
    settled once its answer is in: from then on the window counts it from that
    moment, at or after the arrival, however long the request took to get
    there (`create_place` does both)."""

    async def take(self, max_wait: float | None = None) -> tuple[float, object]:
        """Wait for a place in the window and take it: (0.0, the place). With
        `max_wait`, give up when the place is further off than that, taking
        nothing, and answer (the seconds until one is expected, None): a
        caller holding a worker slot comes back later instead."""
        ...

    async def settle(self, place: object) -> None:
        """The request `place` was taken for has been answered (or failed)."""
        ...

    async def wait_seconds(self) -> float:
        """Seconds until an acquisition would not wait (0 when one is free now)."""
        ...


@contextlib.asynccontextmanager
async def create_place(
    limiter: CreateLimiter, max_wait: float | None = None
) -> AsyncIterator[float]:
    """Take a place for one create (yields 0.0) or not (yields the wait), and
    settle a place taken as the block ends, however it ends. A settle that
    fails leaves the place where it was taken and is only logged: the create
    itself went through or failed on its own account."""
    wait, place = await limiter.take(max_wait)
    try:
        yield wait
    finally:
        if place is not None:
            try:
                await limiter.settle(place)
            except Exception:  # the create stands, settled or not
                log.warning("could not settle a create's place in its window", exc_info=True)


class SlidingWindowLimiter:
    """At most `limit` acquisitions in any `window` seconds in this process; waits
    for a free slot."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until an acquisition would not wait (0 when one is free now)."""
        now = time.monotonic()
        live = [t for t in self._times if now - t < self.window]
        if len(live) < self.limit:
            return 0.0
        return live[len(live) - self.limit] + self.window - now

    async def wait_seconds(self) -> float:
        """`delay()`, as the `CreateLimiter` protocol asks."""
        return self.delay()

    async def acquire(self, max_wait: float | None = None) -> float:
        """Take a place (0.0), waiting for one; see `CreateLimiter.take`."""
        return (await self.take(max_wait))[0]

    async def take(self, max_wait: float | None = None) -> tuple[float, object]:
        """See `CreateLimiter.take`; the place is the time it was taken."""
        give_up_at = None if max_wait is None else time.monotonic() + max_wait
        if not await lock_before(self._lock, give_up_at):  # first come, first served
            return max(MIN_RETRY_WAIT, self.delay()), None
        try:
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return 0.0, now
                wait = self._times[0] + self.window - now
                if give_up_at is not None and now + wait > give_up_at:
                    return wait, None
                await asyncio.sleep(wait)
        finally:
            self._lock.release()

    async def settle(self, place: object) -> None:
        """Count the place taken at `place` from now (again, if it left the
        window while its request was out). Now is the latest time, so the
        times stay in order."""
        with contextlib.suppress(ValueError):
            self._times.remove(place)
        self._times.append(time.monotonic())
