"""Pull requests: seeding, pushes, close / reopen / draft, changed files and merges."""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from tests.fakes.github.contract import MAX_PULL_FILES, WEB
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _fake_sha, _iso, _node_id


def diff_lines(patch: str) -> tuple[set[int], set[int]]:
    """Line numbers a review comment may target: (LEFT/old side, RIGHT/new side)."""
    left: set[int] = set()
    right: set[int] = set()
    old = new = 0
    for line in patch.splitlines():
        m = _HUNK.match(line)
        if m:
            old, new = int(m[1]), int(m[2])
        elif line.startswith("\\"):
            continue  # "\ No newline at end of file"
        elif line.startswith("+"):
            right.add(new)
            new += 1
        elif line.startswith("-"):
            left.add(old)
            old += 1
        else:
            left.add(old)
            right.add(new)
            old += 1
            new += 1
    return left, right


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _minimal_ref(side: dict[str, Any]) -> dict[str, Any]:
    repo = side["repo"]
    return {
        "ref": side["ref"],
        "sha": side["sha"],
        "repo": {"id": repo["id"], "url": repo["url"], "name": repo["name"]},
    }


class PullsMixin:
    """Pull requests (the state lives on `FakeGitHub`)."""

    def add_pull(
        self,
        full_name: str,
        number: int | None = None,
        *,
        title: str = "A pull request",
        body: str | None = "",
        user: str = "octocat",
        head_sha: str | None = None,
        head_ref: str = "feature",
        base_ref: str | None = None,
        files: list[dict[str, Any]] | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
        draft: bool = False,
        mergeable: bool | None = True,
        pull_id: int | None = None,
    ) -> dict[str, Any]:
        """A pull request (and its issue). `files`: dicts with filename, patch, status..."""
        full = self._canonical(full_name)
        issue = self.add_issue(
            full, number, title=title, body=body, user=user, labels=labels, state=state
        )
        number = issue["number"]
        head_sha = head_sha or _fake_sha(full, f"pull-{number}")
        base_ref = base_ref or self.repos[full]["default_branch"]
        if pull_id is None:
            pull_id = self._next_id("pull", 3_000_000)
        api = f"{self.url}/repos/{full}/pulls/{number}"
        html = f"{WEB}/{full}/pull/{number}"
        issue["html_url"] = html
        issue["pull_request"] = {
            "url": api,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
        issue["draft"] = draft
        repo = copy.deepcopy(self.repos[full])
        repo_api = f"{self.url}/repos/{full}"
        pull = {
            "id": pull_id,
            "node_id": _node_id("PullRequest", pull_id),
            "url": api,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue["url"],
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue['url']}/comments",
            "statuses_url": f"{repo_api}/statuses/{head_sha}",
            "number": number,
            "state": state,
            "locked": False,
            "active_lock_reason": None,
            "title": title,
            "body": body,
            "user": self.user(user),
            "labels": issue["labels"],
            "milestone": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "draft": draft,
            "head": {
                "label": f"{repo['owner']['login']}:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "user": repo["owner"],
                "repo": repo,
            },
            "base": {
                "label": f"{repo['owner']['login']}:{base_ref}",
                "ref": base_ref,
                "sha": self.refs.get((full, base_ref), _fake_sha(full, base_ref)),
                "user": repo["owner"],
                "repo": repo,
            },
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "issue": {"href": issue["url"]},
                "comments": {"href": f"{issue['url']}/comments"},
                "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": f"{repo_api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": f"{repo_api}/statuses/{head_sha}"},
            },
            "merged": False,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": "clean" if mergeable else "unknown",
            "merged_at": None,
            "merged_by": None,
            "merge_commit_sha": None,
            "auto_merge": None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": None,
            "author_association": issue["author_association"],
        }
        self.pulls[full][number] = pull
        self.pull_commits[(full, number)] = [head_sha]
        self.refs[(full, head_ref)] = head_sha
        self.set_pull_files(full, number, files or [])
        return pull

    def set_pull_files(self, full_name: str, number: int, files: list[dict[str, Any]]) -> None:
        full = self._canonical(full_name)
        out = []
        for f in files:
            patch = f.get("patch")
            adds = dels = 0
            if patch is not None:
                for line in patch.splitlines():
                    if line.startswith("+"):
                        adds += 1
                    elif line.startswith("-"):
                        dels += 1
            filename = f["filename"]
            sha = f.get("sha") or hashlib.sha1(filename.encode(), usedforsecurity=False).hexdigest()
            entry = {
                "sha": sha,
                "filename": filename,
                "status": f.get("status", "modified"),
                "additions": f.get("additions", adds),
                "deletions": f.get("deletions", dels),
                "changes": f.get("changes", f.get("additions", adds) + f.get("deletions", dels)),
                "blob_url": f"{WEB}/{full}/blob/{sha}/{filename}",
                "raw_url": f"{WEB}/{full}/raw/{sha}/{filename}",
                "contents_url": f"{self.url}/repos/{full}/contents/{filename}",
            }
            if patch is not None:
                entry["patch"] = patch
            if "previous_filename" in f:
                entry["previous_filename"] = f["previous_filename"]
            out.append(entry)
        self.pull_files[full][number] = out
        pull = self.pulls[full].get(number)
        if pull is not None:
            pull["changed_files"] = len(out)
            pull["additions"] = sum(e["additions"] for e in out)
            pull["deletions"] = sum(e["deletions"] for e in out)

    def push(
        self,
        full_name: str,
        number: int,
        files: list[dict[str, Any]] | None = None,
        *,
        sha: str | None = None,
        force: bool = False,
    ) -> str:
        """A new head commit on pull `number` (what a `synchronize` event reports): a new
        40-hex SHA (unless `sha` is given), `head.sha` and the head branch's ref moved to it,
        the files replaced when `files` is given. `force`: a force-push, the earlier head
        SHAs stop being part of the pull. Returns the new SHA."""
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        history = self.pull_commits.setdefault((full, number), [pull["head"]["sha"]])
        if sha is None:
            sha = _fake_sha(full, f"pull-{number}", f"push-{self._next_id('push', 0)}")
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ValueError(f"not a 40-hex commit SHA: {sha!r}")
        if sha in history:
            raise ValueError(f"{sha} is already a commit of {full}#{number}")
        if force:
            history[:] = [sha]
        else:
            history.append(sha)
        repo_api = f"{self.url}/repos/{full}"
        pull["head"]["sha"] = sha
        pull["statuses_url"] = f"{repo_api}/statuses/{sha}"
        pull["_links"]["statuses"]["href"] = pull["statuses_url"]
        pull["commits"] = len(history)
        pull["updated_at"] = _iso()
        self.refs[(full, pull["head"]["ref"])] = sha
        if files is not None:
            self.set_pull_files(full, number, files)
        return sha

    def close_pull(
        self,
        full_name: str,
        number: int,
        *,
        merged: bool = False,
        merged_by: str | None = "octocat",
        merge_commit_sha: str | None = None,
    ) -> dict[str, Any]:
        """Close pull `number` (and its issue), merged or not. merged_by None = the App."""
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        if pull["state"] != "open":
            raise ValueError(f"{full}#{number} is already closed")
        now = _iso()
        pull.update(state="closed", closed_at=now, updated_at=now)
        issue = self.issues[full][number]
        issue.update(state="closed", closed_at=now, updated_at=now)
        if merged:
            sha = merge_commit_sha or _fake_sha(full, f"merge-{number}", pull["head"]["sha"])
            pull.update(
                merged=True,
                merged_at=now,
                merge_commit_sha=sha,
                mergeable=None,
                mergeable_state="unknown",
                merged_by=self.bot_user() if merged_by is None else self.user(merged_by),
            )
            issue["pull_request"]["merged_at"] = now
            issue["state_reason"] = "completed"
            self.refs[(full, pull["base"]["ref"])] = sha
        return pull

    def reopen_pull(self, full_name: str, number: int) -> dict[str, Any]:
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        if pull["merged"]:
            raise ValueError(f"{full}#{number} is merged; a merged pull cannot be reopened")
        now = _iso()
        pull.update(state="open", closed_at=None, updated_at=now)
        self.issues[full][number].update(
            state="open", closed_at=None, updated_at=now, state_reason="reopened"
        )
        return pull

    def set_draft(self, full_name: str, number: int, draft: bool = True) -> dict[str, Any]:
        full = self._canonical(full_name)
        pull = self.pulls[full][number]
        pull["draft"] = self.issues[full][number]["draft"] = draft
        pull["updated_at"] = _iso()
        return pull

    def pull_refs_at(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        """The minimal pull objects GitHub puts in a check run's / suite's
        `pull_requests`: the open pulls whose head is `sha`."""
        full = self._canonical(full_name)
        out = []
        for number, pull in sorted(self.pulls[full].items()):
            if pull["state"] != "open" or pull["head"]["sha"] != sha:
                continue
            out.append(
                {
                    "url": pull["url"],
                    "id": pull["id"],
                    "number": number,
                    "head": _minimal_ref(pull["head"]),
                    "base": _minimal_ref(pull["base"]),
                }
            )
        return out

    def _pull(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.full_name is not None
        pull = self.pulls[ctx.full_name].get(ctx.int_param("pull_number"))
        if pull is None:
            raise GitHubError(404, "Not Found")
        return pull

    # pulls

    def _get_pull(self, ctx: Ctx) -> Reply:
        pull = self._pull(ctx)
        pull["labels"] = self.issues[ctx.full_name][pull["number"]]["labels"]  # type: ignore[index]
        return 200, copy.deepcopy(pull)

    def _list_pull_files(self, ctx: Ctx) -> Reply:
        pull = self._pull(ctx)
        files = self.pull_files[ctx.full_name][pull["number"]][:MAX_PULL_FILES]  # type: ignore[index]
        chunk, headers = self._paginate(ctx, files)
        return 200, copy.deepcopy(chunk), headers

    def add_team(self, full_name: str, slug: str) -> None:
        """A team of the repository's organisation with access to it: reviews may
        be requested from it by its slug."""
        full = self._canonical(full_name)
        self.__dict__.setdefault("repo_teams", {}).setdefault(full, set()).add(slug.lower())

    def _request_reviewers(self, ctx: Ctx) -> Reply:
        """GitHub's contract: never the PR's author (422), only collaborators and
        the repository's teams (422 naming none of them), on an open PR; the PR
        comes back (201) with the reviewers added to `requested_reviewers`."""
        assert ctx.full_name is not None and ctx.repo is not None
        pull = self._pull(ctx)
        body = ctx.body or {}
        logins = [str(x) for x in body.get("reviewers") or []]
        teams = [str(x) for x in body.get("team_reviewers") or []]
        if not logins and not teams:
            raise GitHubError(422, "Validation Failed")
        if pull["state"] != "open":
            raise GitHubError(422, "Reviews may only be requested on open pull requests.")
        author = pull["user"]["login"].lower()
        if any(login.lower() == author for login in logins):
            raise GitHubError(422, "Review cannot be requested from pull request author.")
        owner = ctx.repo["owner"]["login"].lower()
        known = self.collaborators[ctx.full_name]
        strangers = [x for x in logins if x.lower() not in known and x.lower() != owner]
        repo_teams = self.__dict__.get("repo_teams", {}).get(ctx.full_name, set())
        strangers += [t for t in teams if t.lower() not in repo_teams]
        if strangers:
            raise GitHubError(
                422,
                "Reviews may only be requested from collaborators. One or more of the "
                f"users or teams you specified is not a collaborator of the "
                f"{ctx.full_name} repository.",
            )
        present = {u["login"].lower() for u in pull["requested_reviewers"]}
        for login in logins:
            if login.lower() not in present:
                pull["requested_reviewers"].append(self.user(login))
                present.add(login.lower())
        slugs = {t["slug"] for t in pull["requested_teams"]}
        for team in teams:
            if team.lower() not in slugs:
                pull["requested_teams"].append({"slug": team.lower(), "name": team})
                slugs.add(team.lower())
        pull["updated_at"] = _iso()
        return 201, copy.deepcopy(pull)

    def _merge_pull(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        body = ctx.body or {}
        if pull["merged"] or pull["state"] != "open" or not pull["mergeable"]:
            raise GitHubError(405, "Pull Request is not mergeable")
        if pull["draft"]:
            raise GitHubError(405, "Pull Request is still a draft")
        if body.get("sha") and body["sha"] != pull["head"]["sha"]:
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        method = body.get("merge_method") or "merge"
        head = pull["head"]["sha"]
        sha = _fake_sha(ctx.full_name, f"{method}-{pull['number']}", head)
        self.close_pull(
            ctx.full_name, pull["number"], merged=True, merged_by=None, merge_commit_sha=sha
        )
        self.merges.append(
            {
                "repo": ctx.full_name,
                "number": pull["number"],
                **copy.deepcopy(body),
                "merge_method": method,
                "head_sha": head,
                "merge_commit_sha": sha,
            }
        )
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
