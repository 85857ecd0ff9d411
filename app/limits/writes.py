"""GitHub writes per installation, one at a time and spaced by the write interval
across every process on the database, without a round trip per write.

A process writes to an installation only while it holds the installation's
lease: a session advisory lock taken on one connection of its own (the "lock
connection"). It takes the lease when a write is queued there, writes serially
with the interval while it holds it, and lets go when nothing more is queued
(after lingering one interval, which costs the next holder nothing since it
would have to wait that long anyway) or after `hold_seconds` while writes go on
(queued, or coming one after another), then stands aside briefly so another
process can take it. On letting go it records when its last write ended, so the
next holder keeps the spacing; a holder that vanished without letting go makes
the next one wait a whole interval. A lost lock connection frees every lease it
held (the server lets go of a dead session's locks): the process stops writing
and takes the lease again first. Round trips: two to take a lease (a cheap look,
then the take; one look a poll while another process holds it), two to let go,
none per write.

Within the process, writes waiting for an installation go by priority
(`WritePriority`, set around a write with `priority(...)`), then in order: a new
task's first feedback overtakes edits of older tasks' comments queued before it.
`hold(installation)` keeps the turn across a few steps (read the state, then
write it), the writes inside taking it again without waiting for anyone else
(still spaced by the interval); it counts as a write only if one was made.

The spacing is a token bucket of `burst` writes refilled one write an interval.
GitHub's best practices for the REST API
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
say "If you are making a large number of POST, PATCH, PUT, or DELETE requests,
wait at least one second between each request" and "make requests serially
instead of concurrently"; its secondary rate limits
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api)
are, "In general, no more than 80 content-generating requests per minute and no
more than 500 content-generating requests per hour". A few writes back to back
are not a large number, so a new task's first feedback (`WritePriority.FIRST`)
may spend the burst; every other write keeps one interval after the last write
as before and leaves one write in the bucket for the next first feedback, and a
write waiting for its turn steps aside for a first feedback that came
meanwhile. Writes stay serial. A burst of at most `MOST_BURST` (20) refilled
one a second allows at most 20 + 60 = 80 writes in any minute. The 500 an hour
is not enforced here (one a second for an hour is 3,600 writes; edits, most of
them, are not content-generating). The bucket's level is process-local: a new
lease holder counts only what the time since the recorded last write refilled
(min(burst, seconds since / interval)), never more than the bucket could have
held, so the bound holds across processes."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg

from app.limits import store
from app.observability import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

HOLD_SECONDS = 5.0  # the longest a process keeps a lease while another may want it
# GitHub's content-creating limit is 80 a minute: a bucket of `burst` refilled one
# write an interval allows at most burst + 60 in any minute at one a second.
MOST_BURST = 20
POLL_SECONDS = 0.05  # how often a lease held elsewhere is asked for again
COMMAND_TIMEOUT = 30.0  # a lease statement that takes longer drops the connection
# Added to the spacing a new holder reads from the database: the clocks of two
# processes are compared through the database's, each reading off by up to
# half a round trip.
SPACING_MARGIN = 0.01


class WritePriority(enum.IntEnum):
    """Which waiting write to an installation goes first (lower first)."""

    FIRST = 0  #: a new task's first feedback (the 👀 reaction): people wait on it
    NEW = 1  #: a new task's tracking comment
    NORMAL = 2  #: every other write (replies, check runs, reviews)
    EDIT = 3  #: an edit of a tracking comment, coalesced while it waits


_priority: contextvars.ContextVar[WritePriority] = contextvars.ContextVar(
    "github_write_priority", default=WritePriority.NORMAL
)


@contextlib.contextmanager
def priority(level: WritePriority) -> Iterator[None]:
    """Writes made inside (in this task) wait in the queue with `level`."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


@dataclass(eq=False)
class _Held:
    """A turn held across steps by `hold` (the writes inside re-enter it)."""

    installation_id: int
    owner: asyncio.Task[object] | None  # a task started inside inherits the variable, not the turn
    level: int = WritePriority.NORMAL  # what the writes inside may spend of the bucket
    wrote: bool = False


_held: contextvars.ContextVar[_Held | None] = contextvars.ContextVar(
    "github_write_held", default=None
)


class PriorityLock:
    """An asyncio lock whose waiters are served by priority, then in arrival
    order; the lock passes straight to the next waiter on release."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.arrived = asyncio.Event()  # set whenever a waiter queues up

    def first_waiting(self) -> int | None:
        """The priority of the waiter served next, None when nobody waits."""
        levels = [level for level, _, f in self._waiters if not f.done()]
        return min(levels) if levels else None

    def locked(self) -> bool:
        return self._locked

    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    async def acquire(self, level: int = WritePriority.NORMAL) -> None:
        if not self._locked and not self.waiting():
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(level), next(self._order), fut))
        self.arrived.set()
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()  # handed over just as it was cancelled: pass it on
            else:
                fut.cancel()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # stays locked: it is that waiter's now
                return
        self._locked = False

    async def __aenter__(self) -> None:
        await self.acquire(WritePriority.EDIT)

    async def __aexit__(self, *exc: object) -> None:
        self.release()


@dataclass(eq=False)
class _Lane:
    """One installation's writes in this process."""

    lock: PriorityLock = field(default_factory=PriorityLock)  # one write at a time here
    queued: int = 0  # writes waiting for `lock`
    generation: int | None = None  # lock connection the lease is held on; None: not held
    held_since: float = 0.0
    last: float | None = None  # monotonic end of the last write anywhere, as far as known
    level: float = 0.0  # writes left in the bucket as `last` ended (refilled since)
    wrote: bool = False  # a write was made under the current lease
    waiting_since: float | None = None  # a write waits for a lease held elsewhere
    stand_aside_until: float = 0.0  # after a hold ran out: let another process in
    release_timer: asyncio.Task[None] | None = None


class SharedWritePacing:
    """The `WritePacing` of app/github/client.py shared by every process."""

    def __init__(
        self,
        dsn: str,
        *,
        interval: float,
        burst: int = 1,
        hold_seconds: float = HOLD_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._dsn = dsn
        self.interval = max(0.0, interval)
        self.burst = max(1, min(MOST_BURST, burst))
        self.hold_seconds = hold_seconds
        self.poll_seconds = poll_seconds
        self.linger = max(self.interval, poll_seconds)
        self.stand_aside = 3 * poll_seconds
        self._lanes: dict[int, _Lane] = {}
        self._conn: asyncpg.Connection | None = None
        self._generation = 0
        self._conn_lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"SharedWritePacing(interval={self.interval:g}, burst={self.burst},"
            f" hold={self.hold_seconds:g})"
        )

    # ---------------------------------------------------------------- the bucket

    def _tokens(self, lane: _Lane, now: float) -> float:
        """Writes the installation's bucket holds at `now`, as far as known."""
        if lane.last is None or self.interval <= 0:
            return float(self.burst)
        return min(float(self.burst), lane.level + (now - lane.last) / self.interval)

    def _need(self, level: int) -> float:
        """A first feedback may spend the whole burst; every other write leaves
        one write in the bucket for the next first feedback (see `_wait`)."""
        return 1.0 if level <= WritePriority.FIRST else float(min(2, self.burst))

    def _wait(self, lane: _Lane, level: int) -> float:
        """Seconds until a write of `level` may start (0.0: now). Other writes than
        a first feedback also keep one interval after the last write, as without
        a burst: the burst is for the first feedback alone."""
        now = time.monotonic()
        wait = (self._need(level) - self._tokens(lane, now)) * self.interval
        if level > WritePriority.FIRST and lane.last is not None:
            wait = max(wait, lane.last + self.interval - now)
        return max(0.0, wait)

    def _spent(self, lane: _Lane, before: float) -> None:
        """A write ended that found `before` writes in the bucket as it started; the
        refill counts from its end (conservative: nothing while it ran)."""
        lane.level = max(0.0, before - 1.0)
        lane.last = time.monotonic()
        lane.wrote = True

    # ---------------------------------------------------------------- the protocol

    @contextlib.asynccontextmanager
    async def turn(self, installation_id: int) -> AsyncIterator[None]:
        """Wait until this process holds the installation's lease and the interval
        since the last write has passed; the write is made inside. Inside `hold`
        of the same installation: only the spacing is waited for."""
        held = _held.get()
        if (
            held is not None
            and held.installation_id == installation_id
            and held.owner is asyncio.current_task()
        ):
            async with self._reenter(installation_id, held):
                yield
            return
        async with self._turn(installation_id, wrote=True):
            yield

    @contextlib.asynccontextmanager
    async def hold(self, installation_id: int) -> AsyncIterator[None]:
        """Take the installation's turn (by the caller's priority) and keep it while
        the body runs: its writes go one after another, spaced, with nobody else's
        between. The spacing counts from its last write, if it made any."""
        held = _Held(installation_id, asyncio.current_task(), _priority.get())
        async with self._turn(installation_id, wrote=held):
            token = _held.set(held)
            try:
                yield
            finally:
                _held.reset(token)

    @contextlib.asynccontextmanager
    async def _reenter(self, installation_id: int, held: _Held) -> AsyncIterator[None]:
        lane = self._lanes[installation_id]
        while True:
            wait = self._wait(lane, held.level)
            if wait <= 0 and self._holds(lane):
                break
            if wait > 0:
                await asyncio.sleep(wait)
            if not self._holds(lane):  # lost with its connection: take it again
                await self._take(installation_id, lane)
        before = self._tokens(lane, time.monotonic())
        try:
            yield
        finally:
            self._spent(lane, before)
            held.wrote = True

    @contextlib.asynccontextmanager
    async def _turn(self, installation_id: int, *, wrote: bool | _Held) -> AsyncIterator[None]:
        """`wrote`: True for a write; a `_Held` for a hold, which wrote if it says so."""
        lane = self._lanes.setdefault(installation_id, _Lane())
        level = _priority.get()
        started = time.monotonic()
        await self._acquire(installation_id, lane, level)
        owned = True
        try:
            if lane.release_timer is not None:
                lane.release_timer.cancel()  # sleeping or waiting for `lock`: safe
                lane.release_timer = None
            while not await self._ready(installation_id, lane, level):
                # A first feedback came while this write waits for its spacing:
                # it goes first (the lock passes straight to it), this one after.
                owned = False
                lane.lock.release()
                await self._acquire(installation_id, lane, level)
                owned = True
            metrics.LIMIT_WAIT_SECONDS.labels(limit="github_write").observe(
                time.monotonic() - started
            )
            before = self._tokens(lane, time.monotonic())
            try:
                yield
            finally:
                if wrote is True:
                    self._spent(lane, before)
            # Over its hold, let go even with nothing queued here this instant: the
            # next write may come within the linger (a job's writes one after
            # another), and would keep the lease from a waiting process for good.
            if time.monotonic() - lane.held_since >= self.hold_seconds:
                lane.stand_aside_until = time.monotonic() + self.stand_aside
                try:
                    await asyncio.shield(self._release(installation_id, lane))
                except Exception:  # the write was made; the dropped connection let go
                    log.warning("could not let go of a GitHub write lease", exc_info=True)
        finally:
            if owned:
                if not lane.queued:
                    self._linger(installation_id, lane)
                lane.lock.release()

    async def _acquire(self, installation_id: int, lane: _Lane, level: int) -> None:
        """Wait for this process's turn at the installation, by priority."""
        lane.queued += 1
        try:
            await lane.lock.acquire(level)
        except BaseException:
            lane.queued -= 1
            # Cancelled (perhaps just as its turn came): the turn before kept the
            # lease for it when it was the last one queued, so it lets go later.
            if not lane.queued and not lane.lock.locked() and lane.release_timer is None:
                self._linger(installation_id, lane)
            raise
        lane.queued -= 1

    def _linger(self, installation_id: int, lane: _Lane) -> None:
        """Nothing more queued here: let go of a held lease after lingering."""
        if self._holds(lane) and not self._closed:
            lane.release_timer = asyncio.create_task(self._release_later(installation_id, lane))

    def backlog(self, installation_id: int) -> float:
        """Seconds before a write made now would start: the spacing still due, one
        interval for each write queued here, and while a write here waits for a
        lease another process holds, what may be left of that holder's turn."""
        lane = self._lanes.get(installation_id)
        if lane is None:
            return 0.0
        now = time.monotonic()
        next_free = self._wait(lane, WritePriority.NORMAL)
        ahead = lane.queued + (1 if lane.lock.locked() else 0)
        wait = next_free + ahead * self.interval
        if lane.waiting_since is not None:
            wait += max(self.interval, self.hold_seconds - (now - lane.waiting_since))
        return wait

    async def aclose(self) -> None:
        """Let go of every lease (recording the last writes), then of the connection."""
        self._closed = True
        for installation_id, lane in list(self._lanes.items()):
            if lane.release_timer is not None:
                lane.release_timer.cancel()
            if self._holds(lane):
                with contextlib.suppress(Exception):
                    await self._release(installation_id, lane)
        async with self._conn_lock:
            if self._conn is not None and not self._conn.is_closed():
                with contextlib.suppress(Exception):
                    await self._conn.close(timeout=5)
            self._conn = None

    # ---------------------------------------------------------------- the lease

    def holds(self, installation_id: int) -> bool:
        """Whether this process holds the installation's lease now."""
        lane = self._lanes.get(installation_id)
        return lane is not None and self._holds(lane)

    def _holds(self, lane: _Lane) -> bool:
        if lane.generation is None:
            return False
        conn = self._conn
        if lane.generation == self._generation and conn is not None and not conn.is_closed():
            return True
        lane.generation = None
        metrics.GITHUB_WRITE_LEASES.labels(event="lost").inc()
        log.warning("lost a GitHub write lease with its database connection; taking it again")
        return False

    async def _ready(self, installation_id: int, lane: _Lane, level: int) -> bool:
        """Hold the lease and wait until the bucket lets a write of `level` go:
        True; False when a waiter that needs less of the bucket came meanwhile
        (it should go first)."""
        while True:
            if not self._holds(lane):
                await self._take(installation_id, lane)
            wait = self._wait(lane, level)
            if wait <= 0 and self._holds(lane):
                return True
            if wait <= 0:
                continue
            if self._need(level) <= 1.0:
                await asyncio.sleep(wait)
                continue
            lane.lock.arrived.clear()
            first = lane.lock.first_waiting()
            if first is not None and self._need(first) < self._need(level):
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.lock.arrived.wait(), wait)

    async def _take(self, installation_id: int, lane: _Lane) -> None:
        """Wait for the lease, asking again every `poll_seconds` while another
        process holds it."""

        async def take(conn: asyncpg.Connection) -> float | None:
            # A cheap look first: a poll while another holds it costs one statement.
            if not await store.write_lease_free(conn, installation_id):
                return None
            return await store.take_write_lease(conn, installation_id)

        try:
            while True:
                pause = lane.stand_aside_until - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                attempt = asyncio.ensure_future(self._query(take))
                try:
                    generation, since = await asyncio.shield(attempt)
                except asyncio.CancelledError:
                    # The statement runs to its end: a lease it took is let go later.
                    with contextlib.suppress(Exception):
                        generation, since = await attempt
                        if since is not None:
                            self._took(lane, generation, since)
                    raise
                if since is not None:
                    self._took(lane, generation, since)
                    return
                if lane.waiting_since is None:
                    lane.waiting_since = time.monotonic()
                await asyncio.sleep(self.poll_seconds)
        finally:
            lane.waiting_since = None

    def _took(self, lane: _Lane, generation: int, since: float) -> None:
        now = time.monotonic()
        lane.generation = generation
        lane.held_since = now
        lane.wrote = False
        # The last write anywhere ended `since` seconds ago (0: perhaps just now).
        lane.last = now - since + SPACING_MARGIN
        # The bucket is unknown: only what the time since that write refilled
        # (a bucket that was full then holds more, never less).
        lane.level = 0.0
        metrics.GITHUB_WRITE_LEASES.labels(event="taken").inc()

    async def _release(self, installation_id: int, lane: _Lane) -> None:
        """Record the last write, then let go: two statements, so the record is
        committed before the next holder can read it."""
        if not self._holds(lane):
            return
        lane.generation = None
        last, wrote = lane.last, lane.wrote

        async def release(conn: asyncpg.Connection) -> None:
            ago = time.monotonic() - last if wrote and last is not None else None
            await store.record_last_write(conn, installation_id, ago)
            await store.release_write_lease(conn, installation_id)

        await self._query(release, connect=False)
        metrics.GITHUB_WRITE_LEASES.labels(event="released").inc()

    async def _release_later(self, installation_id: int, lane: _Lane) -> None:
        """Let go after lingering, unless a write came meanwhile (which cancels this)."""
        try:
            await asyncio.sleep(self.linger)
            async with lane.lock:
                if not lane.queued:
                    await asyncio.shield(self._release(installation_id, lane))
        except asyncio.CancelledError:
            pass
        except Exception:  # the connection is dropped: the server let go
            log.warning("could not let go of a GitHub write lease", exc_info=True)
        finally:
            if lane.release_timer is asyncio.current_task():
                lane.release_timer = None

    # ---------------------------------------------------------------- the connection

    async def _query(
        self, op: Callable[[asyncpg.Connection], Awaitable[T]], *, connect: bool = True
    ) -> tuple[int, T]:
        """Run `op` on the lock connection (connecting first when `connect`). Any
        failure drops the connection: the server then lets go of every lease it
        held, which is a state this process knows how to recover from."""
        async with self._conn_lock:
            if self._conn is None or self._conn.is_closed():
                if not connect or self._closed:
                    raise ConnectionError("the lock connection is closed")
                self._conn = await asyncpg.connect(
                    self._dsn,
                    command_timeout=COMMAND_TIMEOUT,
                    server_settings={"application_name": "codegen-bot write leases"},
                )
                self._generation += 1
            conn = self._conn
            try:
                return self._generation, await op(conn)
            except BaseException:
                conn.terminate()
                raise
