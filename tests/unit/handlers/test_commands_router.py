"""handlers/commands.py's router alone: `/codegen` commands come only from new
comments, review comments and submitted reviews; a comment with no command, or
written or sent by a bot, is dropped before anything is logged, read or posted.
A recording GitHub client, no database."""

from __future__ import annotations

import pytest

import handlers
from handlers import commands
from tests.support.routers import dispatch, routed

ROUTED = [
    ("issue_comment", "created"),
    ("pull_request_review_comment", "created"),
    ("pull_request_review", "submitted"),
]
NOT_ROUTED = [
    ("issue_comment", "edited"),
    ("issue_comment", "deleted"),
    ("pull_request_review_comment", "edited"),
    ("pull_request_review_comment", "deleted"),
    ("pull_request_review", "dismissed"),
]
BOT = {"login": "other-app[bot]", "id": 5, "type": "Bot"}
PERSON = {"login": "maintainer-mia", "id": 99, "type": "User"}


def written(example_payload, name: str, action: str, body: str | None, author=PERSON) -> dict:
    """The example event with its comment (or review) body and author replaced."""
    payload = example_payload(name, action)
    key = "review" if name == "pull_request_review" else "comment"
    payload[key]["body"] = body
    payload[key]["user"] = dict(author)
    payload["sender"] = dict(author)
    return payload


@pytest.mark.parametrize(("name", "action"), ROUTED)
def test_the_router_takes_new_comments_and_submitted_reviews(name, action):
    assert routed(commands.router, name, action)
    assert routed(handlers.router, name, action)


@pytest.mark.parametrize(("name", "action"), NOT_ROUTED)
async def test_edited_and_deleted_comments_reach_no_handler(example_payload, name, action):
    assert not routed(commands.router, name, action)
    payload = written(example_payload, name, action, "/codegen run")
    gh = await dispatch(commands.router, name, payload)
    assert gh.calls == []


@pytest.mark.parametrize(("name", "action"), ROUTED)
@pytest.mark.parametrize("body", [None, "", "Looks good to me.", "run /codegen later"])
async def test_text_without_a_command_is_dropped(example_payload, name, action, body):
    gh = await dispatch(commands.router, name, written(example_payload, name, action, body))
    assert gh.calls == []


@pytest.mark.parametrize(("name", "action"), ROUTED)
async def test_a_command_written_by_a_bot_is_not_obeyed(example_payload, name, action):
    payload = written(example_payload, name, action, "/codegen cancel", author=BOT)
    gh = await dispatch(commands.router, name, payload)
    assert gh.calls == []


@pytest.mark.parametrize(("name", "action"), ROUTED)
async def test_a_command_delivered_for_a_bot_sender_is_not_obeyed(example_payload, name, action):
    payload = written(example_payload, name, action, "/codegen cancel")
    payload["sender"] = dict(BOT)
    gh = await dispatch(commands.router, name, payload)
    assert gh.calls == []
