"""Unit tests of `HandlerContext`'s answers (app/runtime.py) and of the commands
router's first decision, bedevere-style: one event, one router, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gidgethub import sansio

from app.runtime import HandlerContext
from handlers import commands
from tests.fakes.github import webhook_example


def _context() -> HandlerContext:
    # No runtime: whatever reaches for the database or GitHub fails loudly.
    return HandlerContext(None, "delivery-1", 1, datetime.now(UTC))  # type: ignore[arg-type]


def test_the_context_answers_which_repository_and_who_sent_it():
    data = webhook_example("issue_comment", "created")
    assert HandlerContext.repo(data) == data["repository"]["full_name"]
    assert _context().sender(data) is data["sender"]


def test_the_context_knows_a_bot_by_its_type_or_its_login():
    ctx = _context()
    assert ctx.is_bot({"login": "codegen-bot[bot]", "type": "Bot"})
    assert ctx.is_bot({"login": "renovate[bot]"})
    assert ctx.is_bot({"login": "someapp", "type": "Bot"})
    assert not ctx.is_bot({"login": "alice", "type": "User"})
    assert not ctx.is_bot({})


class _NoGitHub:
    """A GitHub client double that refuses every call."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the handler called GitHub ({name})")


def _comment_event(author_type: str, sender_type: str) -> sansio.Event:
    data = webhook_example("issue_comment", "created")
    data["comment"]["body"] = "/codegen help"
    data["comment"]["user"] = {"login": "someone", "type": author_type}
    data["sender"] = {"login": "someone-else", "type": sender_type}
    return sansio.Event(data, event="issue_comment", delivery_id="delivery-1")


async def test_commands_by_a_bot_or_sent_by_a_bot_are_not_even_read():
    for author, sender in (("Bot", "User"), ("User", "Bot")):
        await commands.router.dispatch(_comment_event(author, sender), _NoGitHub(), _context())


async def test_a_persons_command_goes_on_to_the_service():
    """The double above would notice: a person's command reaches for the database."""
    with pytest.raises(AttributeError, match="pool"):
        await commands.router.dispatch(_comment_event("User", "User"), _NoGitHub(), _context())
