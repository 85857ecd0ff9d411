"""Job kinds, declared beside the code that runs them and composed like gidgethub
routers: each domain keeps a `JobRegistry`, the composition root (`app.service`)
joins them with `JobRegistry(*others)`, and a kind declared twice is refused, so
two modules can never silently answer to the same job."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.observability import metrics
from app.queue import periodic
from app.queue.store import Job

# What a job kind runs, and its clean-up: both get the process's runtime and the job.
JobFunction = Callable[[Any, Job], Awaitable[None]]
# What the worker calls: the same, with the runtime already bound.
BoundJob = Callable[[Job], Awaitable[None]]


# A periodic kind's period in seconds: a constant, or read from the settings
# (0 or less turns the kind off).
Period = float | Callable[[Any], float]


class DuplicateJobKind(ValueError):
    """Two registrations for one kind: the second would shadow the first."""


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    # For a job that failed for good (an error on its last attempt, or a worker that
    # kept dying while holding it): undo or report what the job had begun.
    on_dead: JobFunction | None = None
    # Set for a periodic kind: its period, a constant or read from the settings.
    every: Period | None = None


class JobRegistry:
    def __init__(self, *registries: JobRegistry) -> None:
        self._kinds: dict[str, JobKind] = {}
        for registry in registries:
            for kind in registry:
                self._add(kind)

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __len__(self) -> int:
        return len(self._kinds)

    def job(
        self, name: str, *, on_dead: JobFunction | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Decorator: `fn(runtime, job)` runs jobs of kind `name`."""

        def register(fn: JobFunction) -> JobFunction:
            self.add(name, fn, on_dead=on_dead)
            return fn

        return register

    def periodic(
        self, name: str, *, every: Period, on_dead: JobFunction | None = None
    ) -> Callable[[JobFunction], JobFunction]:
        """Decorator: `fn(runtime, job)` runs once per period of `every` seconds
        (a number, or `fn(settings)` giving one; 0 turns it off) across all
        processes, as rows of this queue (app/queue/periodic.py)."""

        def register(fn: JobFunction) -> JobFunction:
            self._add(JobKind(name, _occurrence(name, every, fn), on_dead, every))
            return fn

        return register

    def add(self, name: str, run: JobFunction, *, on_dead: JobFunction | None = None) -> None:
        self._add(JobKind(name, run, on_dead))

    def schedules(self, settings: Any) -> list[periodic.Schedule]:
        """The periodic kinds that are on, with their periods read from `settings`."""
        found = []
        for kind in self:
            if kind.every is None:
                continue
            every = _seconds(kind.every, settings)
            if every > 0:
                found.append(periodic.Schedule(kind.name, every))
        return found

    def _add(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise DuplicateJobKind(f"job kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def bind(self, runtime: Any) -> tuple[dict[str, BoundJob], dict[str, BoundJob]]:
        """The worker's two tables, by kind: what runs a job, and its clean-up."""
        handlers = {k.name: _bound(k.run, runtime) for k in self}
        on_dead = {k.name: _bound(k.on_dead, runtime) for k in self if k.on_dead is not None}
        return handlers, on_dead


def _seconds(every: Period, settings: Any) -> float:
    return float(every(settings) if callable(every) else every)


def _occurrence(name: str, every: Period, fn: JobFunction) -> JobFunction:
    """Run one occurrence: add the next one first, so that neither a failure nor
    a crash of this run breaks the chain, then do the work. The period is read
    from the settings now: after a deploy that changed it, the chain follows;
    after one that turned the kind off, the pending occurrence does nothing."""

    @functools.wraps(fn)  # named as the job function and its module (docs/ARCHITECTURE.md)
    async def run(runtime: Any, job: Job) -> None:
        if "period" not in job.payload:
            # A run asked for by hand (an operator, a test): the chain is not its business.
            await fn(runtime, job)
            return
        seconds = _seconds(every, runtime.settings)
        if seconds <= 0:
            return
        now = time.time()
        period = int(job.payload["period"])
        if float(job.payload["every"]) != seconds:  # counted in another period length
            period = periodic.period_of(now, seconds)
        following = periodic.next_period(period, now, seconds)
        await periodic.enqueue_occurrence(runtime.pool, name, seconds, following, now=now)
        metrics.PERIODIC_RUNS.labels(kind=name).inc()
        metrics.PERIODIC_LAG.labels(kind=name).observe(max(0.0, now - job.payload["due"]))
        await fn(runtime, job)

    return run


def _bound(fn: JobFunction, runtime: Any) -> BoundJob:
    async def run(job: Job) -> None:
        await fn(runtime, job)

    return run
