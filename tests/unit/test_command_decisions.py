"""Unit tests of the command service's pure parts: where a comment's commands
were written (app/commands/source.py) and what the service decides
(app/commands/decide.py). No database, no HTTP."""

from __future__ import annotations

import dataclasses

import pytest

from app.commands import decide
from app.commands.decide import Result, Step
from app.commands.source import REVIEW, REVIEW_COMMENT, Source
from app.repo_settings.config import RepoConfig
from tests.fakes.github import webhook_example

# run/retry take the label's permission (write), the rest the commands one (triage)
CONFIG = dataclasses.replace(
    RepoConfig(permission="write"),
    validation=dataclasses.replace(RepoConfig().validation, command_permission="triage"),
)


def test_spending_verbs_take_the_labels_permission_the_rest_the_commands_one():
    assert CONFIG.command_permission == "triage"
    for verb in ("run", "retry"):
        assert decide.minimum(verb, CONFIG) == "write"
    for verb in ("help", "fix", "status", "cancel", "validate", "unknown"):
        assert decide.minimum(verb, CONFIG) == "triage"


def test_a_comment_is_refused_whole_only_when_no_verb_is_permitted():
    assert decide.anything_permitted("triage", ["run", "status"], CONFIG)
    assert not decide.anything_permitted("triage", ["run", "retry"], CONFIG)
    assert not decide.anything_permitted("read", ["status"], CONFIG)
    assert not decide.anything_permitted("admin", [], CONFIG)


@pytest.mark.parametrize(
    ("verbs", "minimum", "what"),
    [
        ({"run"}, "write", "start a task with `/codegen run`"),
        ({"retry"}, "write", "start a new agent run with `/codegen retry` or `/codegen run`"),
        (
            {"run", "retry"},
            "write",
            "start a new agent run with `/codegen retry` or `/codegen run`",
        ),
        ({"status"}, "triage", "give codegen-bot commands"),
        ({"run", "fix"}, "triage", "give codegen-bot commands"),
    ],
)
def test_a_denial_names_the_access_and_what_was_asked(verbs, minimum, what):
    assert decide.denial(verbs, CONFIG) == decide.Denial(minimum, what)


def test_each_line_of_a_permitted_comment_is_refused_run_or_known_done():
    assert decide.step("triage", "run", False, CONFIG) is Step.REFUSE
    assert decide.step("triage", "status", False, CONFIG) is Step.RUN
    # a started line whose action is not keyed by the command is not done twice
    for verb in ("run", "retry", "validate"):
        assert decide.step("admin", verb, True, CONFIG) is Step.DONE_BEFORE
    # keyed actions (a follow-up, a reply) are safe to do again
    for verb in ("fix", "status", "cancel", "help"):
        assert decide.step("admin", verb, True, CONFIG) is Step.RUN
    # refusal comes first: a started line by someone now refused is refused
    assert decide.step("read", "run", True, CONFIG) is Step.REFUSE
    assert decide.DONE_BEFORE == Result(True, "carried out by an earlier try.", say=False)


def test_a_reply_is_posted_for_failures_news_and_where_no_reaction_fits():
    quiet = Result(True, "started", say=False)
    assert not decide.needs_reply(quiet, has_reactions=True)
    assert decide.needs_reply(quiet, has_reactions=False)  # a review: the reply is all
    assert decide.needs_reply(Result(True, "said"), has_reactions=True)
    assert decide.needs_reply(Result(False, "no", say=False), has_reactions=True)


def test_the_comment_gets_a_rocket_only_when_all_worked_and_none_was_ignored():
    assert decide.reaction(True, 3, 3) == "rocket"
    assert decide.reaction(True, 12, 10) == "confused"
    assert decide.reaction(False, 1, 1) == "confused"


def test_an_issue_comment_on_an_issue_and_on_a_pull_request():
    data = webhook_example("issue_comment", "created")
    data["issue"].pop("pull_request", None)
    source = Source.of_issue_comment(data)
    repository = data["repository"]["full_name"]
    assert (source.kind, source.id, source.number) == (
        "issue_comment",
        data["comment"]["id"],
        data["issue"]["number"],
    )
    assert source.repository == repository
    assert source.body == data["comment"]["body"]
    assert source.author == data["comment"]["user"]
    assert not source.is_pull
    assert source.reaction_path == f"/repos/{repository}/issues/comments/{data['comment']['id']}"
    assert source.pull is None and source.location is None
    data["issue"]["pull_request"] = {"url": "x"}
    assert Source.of_issue_comment(data).is_pull


def test_a_comment_without_a_user_is_the_senders():
    data = webhook_example("issue_comment", "created")
    data["comment"]["user"] = None
    assert Source.of_issue_comment(data).author == data["sender"]


def test_a_review_comment_carries_its_pull_and_place_in_the_diff():
    data = webhook_example("pull_request_review_comment", "created")
    source = Source.of_review_comment(data)
    comment, repository = data["comment"], data["repository"]["full_name"]
    assert source.kind == REVIEW_COMMENT and source.is_pull
    assert source.number == data["pull_request"]["number"]
    assert source.pull == data["pull_request"]
    assert source.reaction_path == f"/repos/{repository}/pulls/comments/{comment['id']}"
    assert source.location is not None and source.location.path == comment["path"]


def test_a_review_takes_no_reactions():
    data = webhook_example("pull_request_review", "submitted")
    source = Source.of_review(data)
    assert source.kind == REVIEW and source.is_pull
    assert source.id == data["review"]["id"]
    assert source.body == data["review"]["body"]
    assert source.reaction_path is None and source.location is None
