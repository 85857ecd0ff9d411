"""The Jinja2 environment of the dashboard's templates: autoescaping on for every
template (titles, errors and findings are anyone's text), and the filters the
templates share (ages, durations, figures).

Jinja2 is imported, and the environment made, by the first page rendered: a
server that takes webhooks and never shows a page does not hold it (1-2 MiB;
the import takes 40-70 ms once, on the loop, beside compiling the first
template, which the first page did there already)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.dashboard.charts import label

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).parent


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest unit that reads well: 45s, 12m, 3h, 5d."""
    if when is None:
        return "—"
    seconds = max(((now or datetime.now(UTC)) - when).total_seconds(), 0)
    return duration(seconds)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def step_seconds(step: dict[str, Any]) -> float | None:
    """A workflow step's duration from its stored times (ISO strings)."""
    try:
        start = datetime.fromisoformat(step["started_at"])
        end = (
            datetime.fromisoformat(step["finished_at"])
            if step.get("finished_at")
            else datetime.now(UTC)
        )
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def safe_url(url: object) -> str:
    """A link target from stored data (a PR's, a run's, a check's URL) only when it
    is http(s): another App's check run could name `javascript:` as its URL."""
    text = str(url or "")
    return text if text.startswith(("https://", "http://")) else "#"


@cache
def environment() -> jinja2.Environment:
    """The one environment, made on first use."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = age
    env.filters["safe_url"] = safe_url
    env.filters["duration"] = duration
    env.filters["step_seconds"] = step_seconds
    env.filters["figure"] = label
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
