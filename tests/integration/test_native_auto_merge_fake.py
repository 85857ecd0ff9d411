"""The fake GitHub's GraphQL endpoint and branch rules keep to what GitHub
publishes: requests are validated against the pinned part of GitHub's GraphQL
schema (tests/data/github-graphql-subset.graphql), the rules answer against the
pinned OpenAPI schema, and auto-merge behaves as GitHub documents."""

from __future__ import annotations

import pytest
from graphql import assert_valid_schema

from app.github import graphql as queries
from tests.fakes.github.graphql import graphql_schema
from tests.fakes.github.repos import merge_queue_rule, pull_request_rule, required_checks_rule
from tests.integration.test_fake_github import REPO, SHA, call, gh, http, token_auth

__all__ = ["gh", "http"]  # the fixtures


def test_the_pinned_graphql_subset_is_a_valid_schema():
    schema = graphql_schema()
    assert_valid_schema(schema)
    mutations = schema.mutation_type.fields  # type: ignore[union-attr]
    assert sorted(mutations) == [
        "disablePullRequestAutoMerge",
        "enablePullRequestAutoMerge",
        "enqueuePullRequest",
    ]
    enable = schema.get_type("EnablePullRequestAutoMergeInput")
    assert sorted(enable.fields) == [  # type: ignore[union-attr]
        "authorEmail",
        "clientMutationId",
        "commitBody",
        "commitHeadline",
        "expectedHeadOid",
        "mergeMethod",
        "pullRequestId",
    ]
    assert sorted(schema.get_type("PullRequestMergeMethod").values) == [  # type: ignore[union-attr]
        "MERGE",
        "REBASE",
        "SQUASH",
    ]


async def _graphql(http, gh, auth, query, **variables):
    status, body, _ = await call(
        http, gh, "POST", "/graphql", headers=auth, json={"query": query, "variables": variables}
    )
    assert status == 200
    return body


@pytest.fixture
def pull(gh):
    gh.installations[7]["permissions"]["contents"] = "write"
    gh.set_allow_auto_merge(REPO)
    gh.set_branch_rules(REPO, "main", [pull_request_rule(1)])
    return gh.add_pull(REPO, 6, head_sha=SHA, head_ref="feat")


async def test_a_query_outside_the_schema_is_refused_unexecuted(gh, http, pull):
    auth = token_auth(gh.issue_token(7))
    body = await _graphql(
        http,
        gh,
        auth,
        'mutation { enablePullRequestAutoMerge(input: {pullRequestId: "x"}) '
        "{ pullRequest { nope } } }",
    )
    assert "Cannot query field 'nope' on type 'PullRequest'" in body["errors"][0]["message"]
    assert "data" not in body
    wrong_enum = queries.ENABLE_AUTO_MERGE
    body = await _graphql(
        http,
        gh,
        auth,
        wrong_enum,
        pullRequestId=pull["node_id"],
        mergeMethod="FAST_FORWARD",
        expectedHeadOid=SHA,
    )
    assert "FAST_FORWARD" in body["errors"][0]["message"]
    assert pull["auto_merge"] is None


async def test_auto_merge_is_enabled_at_the_expected_head_and_merges_when_met(gh, http, pull):
    auth = token_auth(gh.issue_token(7))
    moved = await _graphql(
        http,
        gh,
        auth,
        queries.ENABLE_AUTO_MERGE,
        pullRequestId=pull["node_id"],
        mergeMethod="SQUASH",
        expectedHeadOid="b" * 40,
    )
    assert moved["errors"][0]["type"] == "UNPROCESSABLE"
    assert moved["data"] == {"enablePullRequestAutoMerge": None}
    status, blocked, _ = await call(http, gh, "GET", f"/repos/{REPO}/pulls/6", headers=auth)
    assert blocked["mergeable_state"] == "blocked"
    status, refused, _ = await call(
        http, gh, "PUT", f"/repos/{REPO}/pulls/6/merge", headers=auth, json={"sha": SHA}
    )
    assert status == 405 and "approving review" in refused["message"]
    body = await _graphql(
        http,
        gh,
        auth,
        queries.ENABLE_AUTO_MERGE,
        pullRequestId=pull["node_id"],
        mergeMethod="SQUASH",
        expectedHeadOid=SHA,
    )
    assert "errors" not in body
    answer = body["data"]["enablePullRequestAutoMerge"]["pullRequest"]
    assert answer["number"] == 6 and answer["autoMergeRequest"]["mergeMethod"] == "SQUASH"
    assert gh.settle_auto_merges() == []  # no approval yet
    gh.add_review(REPO, 6, "", user="someone", state="APPROVED")
    [merged] = gh.settle_auto_merges()
    assert merged["merge_method"] == "squash" and gh.pulls[REPO][6]["merged"] is True


async def test_what_github_refuses(gh, http, pull):
    auth = token_auth(gh.issue_token(7))
    args = {"pullRequestId": pull["node_id"], "mergeMethod": "MERGE", "expectedHeadOid": SHA}
    gh.set_allow_auto_merge(REPO, False)
    body = await _graphql(http, gh, auth, queries.ENABLE_AUTO_MERGE, **args)
    assert (
        body["errors"][0]["message"] == "Pull request Auto merge is not allowed for this repository"
    )
    gh.set_allow_auto_merge(REPO)
    gh.set_branch_rules(REPO, "main", [])
    body = await _graphql(http, gh, auth, queries.ENABLE_AUTO_MERGE, **args)
    assert body["errors"][0]["message"] == "Pull request Pull request is in clean status"
    gh.installations[7]["permissions"]["contents"] = "read"
    body = await _graphql(
        http, gh, token_auth(gh.issue_token(7)), queries.ENABLE_AUTO_MERGE, **args
    )
    assert body["errors"][0]["type"] == "FORBIDDEN"
    assert pull["auto_merge"] is None


async def test_the_rules_and_the_branch_keep_to_the_published_schema(gh, http):
    auth = token_auth(gh.issue_token(7))
    gh.set_branch_rules(
        REPO, "main", [pull_request_rule(2), required_checks_rule("ci"), merge_queue_rule()]
    )
    gh.protect_branch(REPO, "main", required_checks=["build"], required_reviews=1)
    status, rules, _ = await call(
        http, gh, "GET", f"/repos/{REPO}/rules/branches/main", headers=auth
    )
    assert status == 200  # validated against the pinned 200 schema by the fake itself
    assert [r["type"] for r in rules] == ["pull_request", "required_status_checks", "merge_queue"]
    status, branch, _ = await call(http, gh, "GET", f"/repos/{REPO}/branches/main", headers=auth)
    assert status == 200 and branch["protected"] is True
    assert branch["protection"]["required_status_checks"]["contexts"] == ["build"]
    assert "required_pull_request_reviews" not in branch["protection"]  # hidden from an App
    status, _, _ = await call(http, gh, "GET", f"/repos/{REPO}/branches/nope", headers=auth)
    assert status == 404
