"""Job kinds are declared where they are defined and joined in one place."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app
from app.queue.registry import DuplicateJobKind, JobRegistry
from app.service import job_kinds


async def _noop(runtime, job):
    return None


def test_a_kind_declared_twice_is_refused():
    first, second = JobRegistry(), JobRegistry()
    first.add("x.y", _noop)
    second.add("x.y", _noop)
    with pytest.raises(DuplicateJobKind, match=r"x\.y"):
        JobRegistry(first, second)
    with pytest.raises(DuplicateJobKind):
        first.job("x.y")(_noop)


def test_registries_compose_and_bind_clean_ups_by_kind():
    calls = []

    async def run(runtime, job):
        calls.append(("run", runtime, job))

    async def died(runtime, job):
        calls.append(("died", runtime, job))

    a, b = JobRegistry(), JobRegistry()
    a.add("a.one", run, on_dead=died)
    b.job("b.two")(run)
    joined = JobRegistry(a, b)
    assert [k.name for k in joined] == ["a.one", "b.two"] and "b.two" in joined
    handlers, on_dead = joined.bind("RT")
    assert set(handlers) == {"a.one", "b.two"} and set(on_dead) == {"a.one"}


def _declared_kinds() -> set[str]:
    """Every job-kind constant in the app's modules (names ending in `_JOB`)."""
    kinds = set()
    for info in pkgutil.walk_packages(app.__path__, "app."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (name.endswith("_JOB") or name == "DELIVERY_JOB_KIND") and isinstance(value, str):
                kinds.add(value)
    return kinds


def test_every_declared_kind_has_exactly_one_registered_handler():
    registered = {k.name for k in job_kinds()}
    assert _declared_kinds() == registered
    assert {
        "delivery",
        "task.advance",
        "validation.run",
        "followup.send",
        "label.ensure",
    } <= registered


def test_jobs_that_spend_or_hold_a_task_clean_up_when_they_die():
    with_clean_up = {k.name for k in job_kinds() if k.on_dead is not None}
    assert with_clean_up == {
        "task.advance",
        "task.poll",
        "task.ban",
        "validation.run",
        "followup.send",
        "followup.poll",
    }


def test_periodic_kinds_read_their_period_from_settings_and_zero_turns_them_off():
    from types import SimpleNamespace

    from app.queue.periodic import Schedule

    registry = JobRegistry()
    registry.periodic("p.fixed", every=60)(_noop)
    registry.periodic("p.set", every=lambda s: s.sweep)(_noop)
    registry.add("p.plain", _noop)
    assert "p.fixed" in registry and "p.set" in registry
    assert registry.schedules(SimpleNamespace(sweep=600)) == [
        Schedule("p.fixed", 60.0),
        Schedule("p.set", 600.0),
    ]
    assert registry.schedules(SimpleNamespace(sweep=0)) == [Schedule("p.fixed", 60.0)]
    with pytest.raises(DuplicateJobKind):
        registry.periodic("p.plain", every=1)(_noop)


def test_periods_are_counted_from_the_epoch_and_a_late_run_schedules_from_now():
    from app.queue.periodic import dedup_key, next_period, period_of

    assert period_of(1200.0, 600) == 2
    assert period_of(1799.9, 600) == 2
    assert next_period(2, 1300.0, 600) == 3
    # Hours late: the next one is the period after now, not the one after its own.
    assert next_period(2, 60_000.0, 600) == 101
    assert dedup_key("deliveries.sweep", 7) == "periodic:deliveries.sweep:7"


def test_retention_and_the_sweep_are_periodic_and_follow_their_settings():
    from app.config import Settings

    on = {s.kind: s.every for s in job_kinds().schedules(Settings())}
    assert on["maintenance.retention"] == Settings().retention_seconds
    assert on["deliveries.sweep"] == Settings().delivery_sweep_seconds
    off = job_kinds().schedules(Settings(retention_days=0, delivery_sweep_seconds=0))
    assert {s.kind for s in off}.isdisjoint({"maintenance.retention", "deliveries.sweep"})
