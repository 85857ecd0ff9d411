"""The command service's decisions, as values and without I/O: which permission
a verb takes, what a refusal names, whether a logged line runs again, whether
its result is said in a reply, and how the comment is marked at the end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.github.permissions import meets
from app.repo_settings.config import RepoConfig

# Verbs that start a new paid agent run, as the label does: they take its permission.
SPENDING = frozenset({"run", "retry"})
# Actions not keyed by the command itself: they mark the command in their own
# transaction (command_log.mark_started), and a marked line is not run again.
NOT_REPEATABLE = frozenset({"run", "retry", "validate"})


@dataclass(frozen=True)
class Result:
    """What one command line came to, and how it is said."""

    ok: bool
    message: str
    say: bool = True  # reply even when a 🚀 would do
    mention: bool = True  # address the reply to the commenter


def minimum(verb: str, config: RepoConfig) -> str:
    """`run` starts a task and `retry` a new agent run, as the label does (and the
    check run's "Retry task" button), so the label's permission gates them;
    every other verb takes the commands permission."""
    return config.permission if verb in SPENDING else config.command_permission


def anything_permitted(level: str, verbs: Iterable[str], config: RepoConfig) -> bool:
    """Whether `level` may give at least one of the verbs: if not, the whole
    comment is refused before anything is written to GitHub."""
    return any(meets(level, minimum(verb, config)) for verb in verbs)


@dataclass(frozen=True)
class Denial:
    """A refusal of a whole comment: the access it lacked and what it asked for."""

    minimum: str
    what: str


def denial(verbs: Iterable[str], config: RepoConfig) -> Denial:
    """The refusal of a comment none of whose verbs its author may give."""
    asked = set(verbs)
    spending = asked <= SPENDING
    what = "give codegen-bot commands"
    if asked == {"run"}:
        what = "start a task with `/codegen run`"
    elif spending:
        what = "start a new agent run with `/codegen retry` or `/codegen run`"
    return Denial(config.permission if spending else config.command_permission, what)


class Step(StrEnum):
    """What to do with one pending command line of a permitted comment."""

    REFUSE = "refuse"  #: the author may not give this verb
    DONE_BEFORE = "done_before"  #: an earlier try acted and died before recording it
    RUN = "run"  #: carry the verb out


def step(level: str, verb: str, started: bool, config: RepoConfig) -> Step:
    """An earlier try that marked the line started has acted (the mark commits
    with the action): doing a not-repeatable verb again would start a second one."""
    if not meets(level, minimum(verb, config)):
        return Step.REFUSE
    if started and verb in NOT_REPEATABLE:
        return Step.DONE_BEFORE
    return Step.RUN


DONE_BEFORE = Result(True, "carried out by an earlier try.", say=False)


def needs_reply(result: Result, has_reactions: bool) -> bool:
    """A failure is always explained; a success only when it has more to say
    than a 🚀, or where no reaction can be put (a review)."""
    return not result.ok or result.say or not has_reactions


def reaction(all_done: bool, found: int, acted_on: int) -> str:
    """🚀 when every line worked and none was ignored over the limit, else 😕."""
    return "rocket" if all_done and found == acted_on else "confused"
