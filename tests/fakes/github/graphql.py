"""GitHub's GraphQL endpoint (`POST /graphql`) for the auto-merge mutations, and
the merge requirements of a branch that decide them.

A request is parsed and validated against the pinned subset of GitHub's public
schema (tests/data/github-graphql-subset.graphql, from npm
`@octokit/graphql-schema`) by graphql-core, as GitHub validates it: an unknown
field, a wrong enum value or an undeclared variable is answered 200 with
`errors`, never executed. Mutations that GitHub refuses come back as GitHub
words them (`"type": "UNPROCESSABLE"`, "Pull request Pull request is in clean
status", "Pull request Auto merge is not allowed for this repository").

What the fake models: the requirements of a pull's base branch -- the rules of
`set_branch_rules` (approving reviews, required checks, a merge queue) and the
classic protection of `protect_branch` -- which make the pull's
`mergeable_state` "blocked" and a direct merge 405 while unmet; auto-merge
(`enablePullRequestAutoMerge`) recorded on the pull's `auto_merge`, honouring
`expectedHeadOid`; `enqueuePullRequest`; and `settle_auto_merges()`, which
merges each pull whose auto-merge waits and whose requirements are now met (as
GitHub does when the approving review or the last check arrives). Like GitHub,
a push by someone with write access leaves auto-merge on: it then merges the
new head. `auto_merges` records every merge done that way.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync

from tests.fakes.github.contract import DATA_DIR, PERMISSION_LEVELS
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _fake_sha, _iso

GRAPHQL_SUBSET: Path = DATA_DIR / "github-graphql-subset.graphql"
PASSING = ("success", "neutral", "skipped")


@functools.cache
def graphql_schema() -> GraphQLSchema:
    """GitHub's published schema, the part the bot uses (tests/data)."""
    return build_schema(GRAPHQL_SUBSET.read_text())


class Refused(Exception):
    """A mutation GitHub refuses: its error `type` and message."""

    def __init__(self, message: str, type_: str = "UNPROCESSABLE") -> None:
        super().__init__(message)
        self.type = type_


def _gql_error(error: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message}
    original = error.original_error
    if isinstance(original, Refused):
        out["type"] = original.type
    if error.path:
        out["path"] = list(error.path)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return out


class GraphQLMixin:
    """`POST /graphql` and the requirements of a branch (state on `FakeGitHub`)."""

    # requirements

    def _rules_of(self, full: str, branch: str) -> list[dict[str, Any]]:
        return self.branch_rules.get((full, branch), [])

    def merge_queue_required(self, full_name: str, branch: str) -> bool:
        full = self._canonical(full_name)
        return any(r["type"] == "merge_queue" for r in self._rules_of(full, branch))

    def unmet_requirements(self, full_name: str, number: int) -> list[str]:
        """What the base branch requires that pull `number` lacks, in GitHub's words."""
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        base, head = pull["base"]["ref"], pull["head"]["sha"]
        reviews, checks = 0, []
        for rule in self._rules_of(full, base):
            params = rule.get("parameters") or {}
            if rule["type"] == "pull_request":
                reviews = max(reviews, params["required_approving_review_count"])
            elif rule["type"] == "required_status_checks":
                checks += [c["context"] for c in params["required_status_checks"]]
        classic = self.branch_protection.get((full, base))
        if classic is not None:
            reviews = max(reviews, classic["required_reviews"])
            checks += classic["required_checks"]
        unmet = []
        approvals = self._approvals(full, number)
        if approvals < reviews:
            plural = "s" if reviews != 1 else ""
            unmet.append(
                f"At least {reviews} approving review{plural} is required by reviewers "
                "with write access."
            )
        for context in dict.fromkeys(checks):
            if not self._check_passed(full, head, context):
                unmet.append(f'Required status check "{context}" is expected.')
        return unmet

    def _approvals(self, full: str, number: int) -> int:
        latest: dict[str, str] = {}
        for review_id, review in sorted(self.reviews.items()):
            if self._review_pull.get(review_id) != (full, number):
                continue
            if review["user"]["type"] == "Bot" or review["state"] in ("COMMENTED", "PENDING"):
                continue
            latest[review["user"]["login"]] = review["state"]
        return sum(state == "APPROVED" for state in latest.values())

    def _check_passed(self, full: str, sha: str, context: str) -> bool:
        runs = [r for r in self.check_runs_for(full, sha) if r["name"] == context]
        if any(r["status"] == "completed" and r["conclusion"] in PASSING for r in runs):
            return True
        statuses = [s for s in self.statuses.get((full, sha), []) if s["context"] == context]
        return bool(statuses) and statuses[-1]["state"] == "success"

    def settle_auto_merges(self, full_name: str | None = None) -> list[dict[str, Any]]:
        """Merge every open pull whose auto-merge waits and whose requirements are
        met now, as GitHub does; returns the merges."""
        done = []
        for full, pulls in self.pulls.items():
            if full_name is not None and full != self._canonical(full_name):
                continue
            for number, pull in sorted(pulls.items()):
                if pull["state"] != "open" or not pull.get("auto_merge"):
                    continue
                if self.unmet_requirements(full, number):
                    continue
                done.append(self._auto_merge_now(full, number))
        return done

    def _auto_merge_now(self, full: str, number: int) -> dict[str, Any]:
        pull = self.pulls[full][number]
        auto = pull["auto_merge"]
        method = auto["merge_method"]
        head = pull["head"]["sha"]
        sha = _fake_sha(full, f"{method}-{number}", head)
        enabler = auto["enabled_by"]["login"]
        by_bot = enabler == self.bot_login
        self.close_pull(
            full, number, merged=True, merged_by=None if by_bot else enabler, merge_commit_sha=sha
        )
        pull["auto_merge"] = None
        record = {
            "repo": full,
            "number": number,
            "merge_method": method,
            "head_sha": head,
            "merge_commit_sha": sha,
            "via": auto.get("via", "auto_merge"),
            "enabled_at_head": auto["enabled_at_head"],
        }
        self.auto_merges.append(record)
        return record

    # routes that the requirements change

    def _get_pull_with_rules(self, ctx: Ctx) -> Reply:
        status, pull, *rest = self._get_pull(ctx)
        if pull["state"] == "open" and self.unmet_requirements(ctx.full_name, pull["number"]):
            pull["mergeable_state"] = "blocked"
        return (status, pull, *rest)

    def _merge_pull_with_rules(self, ctx: Ctx) -> Reply:
        pull = self._pull(ctx)
        if pull["state"] == "open":
            if self.merge_queue_required(ctx.full_name, pull["base"]["ref"]):
                raise GitHubError(
                    405,
                    "Repository rule violations found\n\nChanges must be made through the "
                    "merge queue",
                )
            unmet = self.unmet_requirements(ctx.full_name, pull["number"])
            if unmet:
                raise GitHubError(405, "Repository rule violations found\n\n" + unmet[0])
        return self._merge_pull(ctx)

    # POST /graphql

    def _graphql(self, ctx: Ctx) -> Reply:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        query = body.get("query")
        if not isinstance(query, str):
            return 200, {
                "errors": [{"message": "A query attribute must be specified and must be a string."}]
            }
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return 200, {"errors": [{"message": "Variables are invalid JSON."}]}
        result = graphql_sync(
            graphql_schema(),
            query,
            root_value=_Root(self, ctx),
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [_gql_error(e) for e in result.errors]
        if result.data is not None or not result.errors:
            out["data"] = result.data
        self.graphql_requests.append({"query": query, "variables": variables, **out})
        return 200, out


class _Root:
    """The mutation and query fields: graphql-core's default resolver calls
    these methods with the field's arguments."""

    def __init__(self, fake: Any, ctx: Ctx) -> None:
        self.fake = fake
        self.ctx = ctx

    def _pull_by_node(self, node_id: str) -> tuple[str, int, dict[str, Any]]:
        tok = self.ctx.token
        assert tok is not None
        for full, pulls in self.fake.pulls.items():
            reachable = self.fake._repo_installation.get(full) == tok.installation_id and (
                tok.repositories is None or full in tok.repositories
            )
            for number, pull in pulls.items():
                if pull["node_id"] == node_id and reachable:
                    return full, number, pull
        raise Refused(f"Could not resolve to a node with the global id of '{node_id}'", "NOT_FOUND")

    def _need_write(self) -> None:
        """Merging writes the base branch: `contents: write`, as for a REST merge."""
        have = self.ctx.token.permissions.get("contents", "none")  # type: ignore[union-attr]
        if PERMISSION_LEVELS[have] < PERMISSION_LEVELS["write"]:
            raise Refused("Resource not accessible by integration", "FORBIDDEN")

    def _view(self, full: str, number: int) -> dict[str, Any]:
        pull = self.fake.pulls[full][number]
        auto = pull.get("auto_merge")
        unmet = pull["state"] == "open" and self.fake.unmet_requirements(full, number)
        return {
            "id": pull["node_id"],
            "number": number,
            "headRefOid": pull["head"]["sha"],
            "baseRefName": pull["base"]["ref"],
            "merged": pull["merged"],
            "state": "MERGED" if pull["merged"] else pull["state"].upper(),
            "mergeStateStatus": "BLOCKED" if unmet else "CLEAN",
            "autoMergeRequest": None
            if auto is None
            else {
                "enabledAt": auto["enabled_at"],
                "mergeMethod": auto["merge_method"].upper(),
                "commitHeadline": auto.get("commit_title"),
                "commitBody": auto.get("commit_message"),
                "authorEmail": None,
                "pullRequest": None,
            },
        }

    def _check_open(self, full: str, number: int, pull: dict[str, Any], expected: str | None):
        if pull["state"] != "open":
            raise Refused("Pull request Pull request is closed")
        if pull["draft"]:
            raise Refused("Pull request Pull request is in draft state")
        if expected is not None and expected != pull["head"]["sha"]:
            raise Refused(
                "Pull request head sha does not match expected head sha "
                f"(expected {expected}, found {pull['head']['sha']})"
            )

    def enablePullRequestAutoMerge(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._need_write()
        full, number, pull = self._pull_by_node(input["pullRequestId"])
        expected = input.get("expectedHeadOid")
        self._check_open(full, number, pull, expected)
        if not self.fake.repos[full].get("allow_auto_merge", False):
            raise Refused("Pull request Auto merge is not allowed for this repository")
        queue = self.fake.merge_queue_required(full, pull["base"]["ref"])
        if not self.fake.unmet_requirements(full, number):
            raise Refused("Pull request Pull request is in clean status")
        method = str(input.get("mergeMethod") or "MERGE").lower()
        if queue:  # the queue's own method wins (the schema says the input is ignored)
            rule = next(
                r
                for r in self.fake._rules_of(full, pull["base"]["ref"])
                if r["type"] == "merge_queue"
            )
            method = rule["parameters"]["merge_method"].lower()
        pull["auto_merge"] = {
            "enabled_by": self.fake.bot_user(),
            "merge_method": method,
            "commit_title": input.get("commitHeadline"),
            "commit_message": input.get("commitBody"),
            "enabled_at": _iso(),
            "enabled_at_head": pull["head"]["sha"],
            "via": "merge_queue" if queue else "auto_merge",
        }
        return {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": self._view(full, number),
        }

    def disablePullRequestAutoMerge(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._need_write()
        full, number, pull = self._pull_by_node(input["pullRequestId"])
        if pull.get("auto_merge") is None:
            raise Refused("Pull request Auto merge is not enabled for this pull request")
        pull["auto_merge"] = None
        self.fake.auto_merge_disabled.append({"repo": full, "number": number})
        return {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": self._view(full, number),
        }

    def enqueuePullRequest(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._need_write()
        full, number, pull = self._pull_by_node(input["pullRequestId"])
        self._check_open(full, number, pull, input.get("expectedHeadOid"))
        if not self.fake.merge_queue_required(full, pull["base"]["ref"]):
            raise Refused("Pull request Merge queue is not enabled for this branch")
        unmet = self.fake.unmet_requirements(full, number)
        if unmet:
            raise Refused(f"Pull request {unmet[0]}")
        head = pull["head"]["sha"]
        rule = next(
            r for r in self.fake._rules_of(full, pull["base"]["ref"]) if r["type"] == "merge_queue"
        )
        pull["auto_merge"] = {
            "enabled_by": self.fake.bot_user(),
            "merge_method": rule["parameters"]["merge_method"].lower(),
            "enabled_at": _iso(),
            "enabled_at_head": head,
            "via": "merge_queue",
        }
        entry_id = self.fake._next_id("merge_queue_entry")
        record = self.fake._auto_merge_now(full, number)  # the queue's build passed
        return {
            "clientMutationId": input.get("clientMutationId"),
            "mergeQueueEntry": {
                "id": f"MQE_{entry_id}",
                "position": 1,
                "state": "QUEUED",
                "enqueuedAt": _iso(),
                "headCommit": {"id": f"C_{head}", "oid": record["head_sha"]},
                "pullRequest": self._view(full, number),
            },
        }

    def node(self, _info: Any, id: str) -> None:
        return None  # only the mutations are modelled
