"""The task list's query string, read into a filter and turned into a SQL WHERE
clause with numbered parameters; pages are keyset (`before` the last id seen),
so page 2,000 of 100,000 tasks costs what page 1 does. Pure: the store runs
what this builds, and every value is a parameter, never spliced in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.tasks.status import TaskStatus

PAGE_SIZE = 50
MAX_SEARCH = 200
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_LOGIN = re.compile(r"^[A-Za-z0-9-]{1,39}(\[bot\])?$")


@dataclass(frozen=True)
class TaskFilter:
    """What a person asked the task list for; unset fields do not filter."""

    status: TaskStatus | None = None
    repository: str | None = None
    requester: str | None = None
    since: date | None = None
    until: date | None = None
    search: str | None = None
    before: int | None = None  # keyset: only tasks with a smaller id

    def query(self, **changes: Any) -> dict[str, str]:
        """The query string of this filter (with `changes`), for links."""
        chosen = replace(self, **changes)
        pairs = {
            "status": chosen.status,
            "repository": chosen.repository,
            "requester": chosen.requester,
            "since": chosen.since,
            "until": chosen.until,
            "q": chosen.search,
            "before": chosen.before,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse(query: Mapping[str, str]) -> TaskFilter:
    """Read the query string; a value that is not what the field takes is dropped,
    never an error (a link with a stale status still shows the list)."""
    status = query.get("status") or None
    repository = (query.get("repository") or "").strip() or None
    requester = (query.get("requester") or "").strip().lstrip("@") or None
    # PostgreSQL's text holds no NUL: a NUL in the search is a space.
    search = " ".join((query.get("q") or "").replace("\x00", " ").split())[:MAX_SEARCH] or None
    before = query.get("before") or ""
    until = _date(query.get("until"))
    return TaskFilter(
        status=TaskStatus(status) if status in TaskStatus._value2member_map_ else None,
        repository=repository if repository and _REPOSITORY.match(repository) else None,
        requester=requester if requester and _LOGIN.match(requester) else None,
        since=_date(query.get("since")),
        until=until if until != date.max else None,  # its next day does not exist
        search=search,
        # isdigit() holds for "²", which int() refuses: ASCII digits only.
        before=int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None,
    )


def _like(text: str) -> str:
    """A substring pattern for ILIKE with the user's own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(flt: TaskFilter, visible: Sequence[str] | None) -> tuple[str, list[Any]]:
    """(`WHERE ...`, parameters) for `tasks`; `visible` is the lower-case
    repositories the viewer may see, None for an operator (everything)."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(sql: str, value: Any) -> None:
        params.append(value)
        clauses.append(sql.replace("?", f"${len(params)}"))

    if visible is not None:
        add("lower(repository) = ANY(?::text[])", [v.lower() for v in visible])
    if flt.status is not None:
        add("status = ?", str(flt.status))
    if flt.repository is not None:
        add("lower(repository) = ?", flt.repository.lower())
    if flt.requester is not None:
        add("lower(triggered_by) = ?", flt.requester.lower())
    if flt.since is not None:
        add("created_at >= ?", datetime.combine(flt.since, datetime.min.time(), UTC))
    if flt.until is not None:
        end = datetime.combine(flt.until + timedelta(days=1), datetime.min.time(), UTC)
        add("created_at < ?", end)
    if flt.search is not None:
        add("title ILIKE ?", _like(flt.search))
    if flt.before is not None:
        add("id < ?", flt.before)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def next_cursor(ids: Sequence[int], page_size: int = PAGE_SIZE) -> int | None:
    """The `before` of the next page: the last id shown, when the page was full
    (the store fetches one more row than it shows to know)."""
    return ids[page_size - 1] if len(ids) > page_size else None
