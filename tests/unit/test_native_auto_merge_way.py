"""The pure decision of how to merge (app/validation/merge_way.py) from GitHub's
answers, and the GraphQL helpers (app/github/graphql.py)."""

from __future__ import annotations

import pytest
from graphql import build_schema, parse, validate

from app.github import graphql
from app.validation.merge_way import MergeWay, Requirements, choose, requirements
from tests.fakes.github.graphql import GRAPHQL_SUBSET
from tests.fakes.github.repos import merge_queue_rule, pull_request_rule, required_checks_rule

PROTECTED = {
    "name": "main",
    "protected": True,
    "protection": {
        "enabled": True,
        "required_status_checks": {"contexts": ["ci/build"], "checks": []},
    },
}


@pytest.mark.parametrize(
    ("rules", "branch", "state", "way", "because"),
    [
        ([], None, "clean", MergeWay.DIRECT, "nothing is required to merge into `main`"),
        ([], {"protected": False}, "unstable", MergeWay.DIRECT, "nothing is required"),
        ([pull_request_rule(0)], None, "clean", MergeWay.DIRECT, "nothing is required"),
        ([pull_request_rule(1)], None, "blocked", MergeWay.AUTO_MERGE, "1 approving review"),
        ([pull_request_rule(2)], None, "blocked", MergeWay.AUTO_MERGE, "2 approving reviews"),
        (
            [required_checks_rule("tests", "lint")],
            None,
            "clean",
            MergeWay.AUTO_MERGE,
            "requires the checks `tests`, `lint`",
        ),
        ([], PROTECTED, "clean", MergeWay.AUTO_MERGE, "requires the checks `ci/build`"),
        ([], {"protected": True}, "blocked", MergeWay.AUTO_MERGE, "blocked by a requirement"),
        (
            [pull_request_rule(1), merge_queue_rule()],
            None,
            "blocked",
            MergeWay.MERGE_QUEUE,
            "merges through a merge queue",
        ),
    ],
)
def test_the_way_follows_what_the_branch_requires(rules, branch, state, way, because):
    chosen, reason = choose(requirements("main", rules, branch, state))
    assert chosen is way
    assert because in reason


def test_odd_answers_are_data_not_errors():
    rules = [
        "text",
        {"type": "pull_request", "parameters": {"required_approving_review_count": True}},
        {"type": "pull_request", "parameters": "x"},
        {"type": "required_status_checks", "parameters": {"required_status_checks": [1, {}]}},
        {"type": "unknown_rule"},
    ]
    req = requirements("main", rules, {"protection": "x"}, None)
    assert req == Requirements(branch="main")
    assert choose(req)[0] is MergeWay.DIRECT


def test_the_reason_is_bounded():
    names = [f"check-{i}-" + "x" * 500 for i in range(40)]
    req = requirements("b" * 1000, [required_checks_rule(*names)], None, "blocked")
    way, reason = choose(req)
    assert way is MergeWay.AUTO_MERGE and "and 35 more" in reason and len(reason) < 700


def test_names_cannot_break_out_of_their_code_span():
    hostile = "x` @org/team [click](https://evil.example)\n# heading"
    way, reason = choose(requirements(hostile, [required_checks_rule(hostile)], None, None))
    assert way is MergeWay.AUTO_MERGE
    assert reason.count("`") == 4  # two code spans, opened and closed by the bot
    assert "\n" not in reason


def test_the_same_check_required_twice_is_named_once():
    req = requirements("main", [required_checks_rule("tests")], PROTECTED, "clean")
    req2 = requirements(
        "main",
        [required_checks_rule("ci/build")],
        PROTECTED,
        "clean",
    )
    assert req.checks == ("tests", "ci/build") and req2.checks == ("ci/build",)


@pytest.mark.parametrize(
    ("api_url", "endpoint"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/graphql"),
    ],
)
def test_the_graphql_endpoint_beside_the_rest_base(api_url, endpoint):
    assert graphql.endpoint(api_url) == endpoint


def test_error_helpers_read_githubs_answer():
    answer = {
        "data": {"enablePullRequestAutoMerge": None},
        "errors": [
            {"type": "UNPROCESSABLE", "message": "Pull request Pull request is in clean status"},
            "junk",
        ],
    }
    assert graphql.error_messages(answer) == ["Pull request Pull request is in clean status"]
    assert graphql.error_types(answer) == {"UNPROCESSABLE"}
    assert graphql.error_messages(None) == [] and graphql.error_types({"errors": 1}) == set()


@pytest.mark.parametrize(
    "query", [graphql.ENABLE_AUTO_MERGE, graphql.ENQUEUE, graphql.DISABLE_AUTO_MERGE]
)
def test_the_bots_operations_are_valid_against_githubs_schema(query):
    schema = build_schema(GRAPHQL_SUBSET.read_text())
    assert validate(schema, parse(query)) == []
