"""What an issue asks for, as a task: the shape the tasks table stores, the
issue parser (`app.tasks.issue_spec`) produces, and the prompt builder reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.tasks.levels import COMPLEXITIES, DEFAULT_COMPLEXITY, DEFAULT_PRIORITY, PRIORITIES


@dataclass(frozen=True)
class TaskSpec:
    """What an issue asks for, in the shape the tasks table stores and the prompt
    builder reads. Sequences are tuples so a spec can be hashed and compared."""

    title: str
    description: str
    requirements: tuple[str, ...] = field(default=())
    acceptance_criteria: tuple[str, ...] = field(default=())
    priority: str = DEFAULT_PRIORITY
    estimated_complexity: str = DEFAULT_COMPLEXITY
    # (login, text): what the person who started the task added in their mention
    instructions: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        # Rows come back from PostgreSQL with lists; keep the spec hashable.
        object.__setattr__(self, "requirements", tuple(self.requirements))
        object.__setattr__(self, "acceptance_criteria", tuple(self.acceptance_criteria))
        object.__setattr__(self, "instructions", tuple(tuple(i) for i in self.instructions))
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {self.priority!r}")
        if self.estimated_complexity not in COMPLEXITIES:
            raise ValueError(
                f"estimated_complexity must be one of {COMPLEXITIES}, "
                f"not {self.estimated_complexity!r}"
            )

    def to_json(self) -> dict:
        """Plain JSON types (lists, not tuples) for a jsonb or text[] column."""
        return {
            "title": self.title,
            "description": self.description,
            "requirements": list(self.requirements),
            "acceptance_criteria": list(self.acceptance_criteria),
            "priority": self.priority,
            "estimated_complexity": self.estimated_complexity,
        }
