"""What the tests of each state machine (tasks, attempts, follow-ups,
validations, workflow records, pull requests) check the same way: the schema
allows exactly an enum's values, every value is documented in its module, the
transition table reaches every status, and no module outside the enum's own
spells one of its values as a string. Each test file says which enum, table,
names and calls it means; the machinery is here once."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from app.tasks import store as tasks

ROOT = Path(__file__).resolve().parents[2]
_QUOTED = r"'([a-z_]+)'"
T = TypeVar("T")


# ------------------------------------------------------------------ the schema


def quoted_values(definition: str) -> set[str]:
    """The words a constraint or index definition quotes (`'queued'::text`)."""
    return set(re.findall(_QUOTED, definition))


async def check_values(conn: Any, table: str, column: str) -> set[str]:
    """The values the one CHECK constraint on `table.column` allows, as
    PostgreSQL reads it back (`pg_get_constraintdef`), not as a migration
    spelled it. Fails unless exactly one check of the table tests the column."""
    checks = await conn.fetch(
        """SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = $1::regclass AND contype = 'c'""",
        table,
    )
    matching = [r["def"] for r in checks if f"({column} =" in r["def"]]
    assert len(matching) == 1, (table, column, [r["def"] for r in checks])
    return quoted_values(matching[0])


async def index_values(conn: Any, index: str) -> set[str]:
    """The values a partial index's WHERE clause names."""
    definition = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", index)
    assert definition is not None, index
    return quoted_values(definition.split(" WHERE ", 1)[1])


# --------------------------------------------------------- the enum's own module


def assert_documented(module: str, enum: type[StrEnum], words: int = 3) -> None:
    """Each member stands on its own line of `module` (a path from the
    repository's root) as `NAME = "value"  #: ...` with a comment of at least
    `words` words saying what it means."""
    source = (ROOT / module).read_text()
    for member in enum:
        line = re.search(rf'^    {member.name} = "{member.value}"  #: (.+)$', source, re.M)
        assert line is not None and len(line[1].split()) >= words, member


def reachable(transitions: Mapping[T, Collection[T]], start: T) -> set[T]:
    """Every status the table's moves lead to from `start`, `start` included."""
    seen, todo = {start}, [start]
    while todo:
        for target in transitions[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


# ------------------------------------------------------ no status spelled elsewhere


@dataclass(frozen=True)
class LiteralFinder:
    """Finds, in a module's source, the (line, value) of each status of one
    enum spelled as a string where the code means that enum's status:

    - compared with `<subject>.status` for a name in `subject_names`;
    - given to a function of a store module named in `store_names` (positional
      arguments only to the functions in `store_calls`, every one when None;
      keywords only those in `store_keywords`, every one when None);
    - given positionally to any call whose function is named in
      `status_calls`, or as any call's keyword in `status_keywords`;
    - gathered (when `gatherings`) two or more in a tuple, set or list, or as
      a dict's keys, of the enum's values only, and holding one of
      `distinctive` if that is given (values no other state has);
    - as the values of a dict whose two or more values are all strings of
      `mapping_values`.
    """

    values: Collection[str]
    subject_names: Collection[str] = frozenset()
    store_names: Collection[str] = frozenset()
    store_calls: Collection[str] | None = None
    store_keywords: Collection[str] | None = None
    status_calls: Collection[str] = frozenset()
    status_keywords: Collection[str] = frozenset()
    gatherings: bool = True
    distinctive: Collection[str] | None = None
    mapping_values: Collection[str] = frozenset()

    def __call__(self, source: str) -> list[tuple[int, str]]:
        found: set[tuple[int, str]] = set()

        def add(node: ast.AST) -> None:
            found.update((c.lineno, c.value) for c in self._statuses_in(node))

        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(self._is_subject_status(op) for op in operands):
                    for op in operands:
                        add(op)
            elif isinstance(node, ast.Call):
                for arg in self._status_arguments(node):
                    add(arg)
            elif isinstance(node, ast.Tuple | ast.Set | ast.List | ast.Dict):
                if self.gatherings:
                    for item in self._gathered(node):
                        add(item)
                if isinstance(node, ast.Dict) and self.mapping_values:
                    found.update((v.lineno, v.value) for v in self._mapped_onto(node))
        return sorted(found)

    def _statuses_in(self, node: ast.AST) -> Iterator[ast.Constant]:
        for child in ast.walk(node):
            if isinstance(child, ast.Constant) and child.value in self.values:
                yield child

    def _is_subject_status(self, node: ast.AST) -> bool:
        """`task.status`, `self.task.status` and the like."""
        if not (isinstance(node, ast.Attribute) and node.attr == "status"):
            return False
        base = node.value
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)
        return name in self.subject_names

    def _status_arguments(self, node: ast.Call) -> Iterator[ast.AST]:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        on_store = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in self.store_names
        )
        if name in self.status_calls or (
            on_store and (self.store_calls is None or name in self.store_calls)
        ):
            yield from node.args
        for keyword in node.keywords:
            if keyword.arg in self.status_keywords or (
                on_store and (self.store_keywords is None or keyword.arg in self.store_keywords)
            ):
                yield keyword.value

    def _gathered(self, node: ast.Tuple | ast.Set | ast.List | ast.Dict) -> Iterator[ast.AST]:
        items = node.keys if isinstance(node, ast.Dict) else node.elts
        strings = {i.value for i in items if isinstance(i, ast.Constant)}
        if len(strings) < 2 or not strings.issubset(self.values):
            return
        if self.distinctive is not None and strings.isdisjoint(self.distinctive):
            return
        yield from (item for item in items if item is not None)

    def _mapped_onto(self, node: ast.Dict) -> list[ast.Constant]:
        values = [v for v in node.values if isinstance(v, ast.Constant)]
        strings = {v.value for v in values}
        if len(values) == len(node.values) >= 2 and strings.issubset(self.mapping_values):
            return values
        return []


def values_of(*enums: type[StrEnum]) -> frozenset[str]:
    """The string values of the members of `enums`."""
    return frozenset(member.value for enum in enums for member in enum)


def spelled_outside(owner: str, find: LiteralFinder) -> list[str]:
    """`path:line: value` of each status `find` sees in app/ and handlers/,
    except in `owner`, the enum's own module (a path from the repository's root)."""
    files = [*(ROOT / "app").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    spelled = {
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        if path != ROOT / owner
        for line, value in find(path.read_text())
    }
    return sorted(spelled)


# ----------------------------------------------------------------- a task to own


async def new_task(pool: Any) -> tasks.Task:
    """The one task (issue 7 of octo/widgets) the records under test belong to."""
    task = await tasks.create(
        pool,
        installation_id=1,
        repository="octo/widgets",
        issue_number=7,
        issue_url="https://github.com/octo/widgets/issues/7",
        issue_author="reporter-rae",
        title="Export",
        triggered_by="writer-wes",
    )
    assert task is not None
    return task
