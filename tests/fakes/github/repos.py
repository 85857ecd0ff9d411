"""Repositories: seeding and renames, collaborator permissions, contents, README,
languages and git trees; the rules of a branch (rulesets, classic protection).
"""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator

from tests.fakes.github.contract import (
    CONTENT_MAX_INLINE,
    PERMISSION_LEVELS,
    ROLE_TO_PERMISSION,
    WEB,
    openapi_operations,
)
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _fake_sha, _git_blob_sha, _node_id


class ReposMixin:
    """Repositories and their contents (the state lives on `FakeGitHub`)."""

    def add_repo(
        self,
        full_name: str,
        *,
        repo_id: int | None = None,
        default_branch: str = "main",
        installation_id: int = 1,
        private: bool = False,
        head_sha: str | None = None,
    ) -> dict[str, Any]:
        """A repository the installation can reach (the installation is created if new)."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not an owner/name: {full_name!r}")
        if installation_id not in self.installations:
            self.add_installation(installation_id, account=owner)
        if repo_id is None:
            repo_id = self._next_id("repo", 100_000)
        else:
            self._seen_id("repo", repo_id)
        api = f"{self.url}/repos/{full_name}"
        owner_obj = self.user(owner)
        account = self.installations[installation_id]["account"]
        if account["login"].lower() == owner.lower():
            owner_obj["type"] = account["type"]  # an Organization's repo has an org owner
        repo = {
            "id": repo_id,
            "node_id": _node_id("Repository", repo_id),
            "name": name,
            "full_name": full_name,
            "private": private,
            "visibility": "private" if private else "public",
            "owner": owner_obj,
            "html_url": f"{WEB}/{full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "archived": False,
            "disabled": False,
            "default_branch": default_branch,
            "clone_url": f"{WEB}/{full_name}.git",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "pushed_at": "2024-01-01T00:00:00Z",
            "has_issues": True,
            "open_issues_count": 0,
            "topics": [],
            "language": None,
            "permissions": {
                "admin": False,
                "maintain": False,
                "push": False,
                "triage": False,
                "pull": True,
            },
        }
        self._repo_index[full_name.lower()] = full_name
        self.repos[full_name] = repo
        self._repo_installation[full_name] = installation_id
        self.installation_repos.setdefault(installation_id, set()).add(full_name)
        for store in (
            self.labels,
            self.issues,
            self.pulls,
            self.pull_files,
            self.files,
            self.languages,
            self.collaborators,
        ):
            store.setdefault(full_name, {})
        self.refs[(full_name, default_branch)] = head_sha or _fake_sha(full_name, default_branch)
        return repo

    def rename_repo(self, full_name: str, new_full_name: str) -> dict[str, Any]:
        """Rename or transfer (new owner) a repository, keeping its id: everything
        it holds moves to the new name, and the old name answers 404 (GitHub
        redirects it for a while, which a client must not rely on)."""
        old, new = self._canonical(full_name), new_full_name
        owner, _, name = new.partition("/")

        def moved(key: Any) -> Any:
            if isinstance(key, tuple):
                return tuple(new if part == old else part for part in key)
            return new if key == old else key

        for store in (
            self.repos,
            self.labels,
            self.issues,
            self.pulls,
            self.pull_files,
            self.files,
            self.languages,
            self.collaborators,
            self._repo_installation,
            self.refs,
            self.pull_commits,
            self.statuses,
            self._suite_index,
        ):
            for key in [k for k in store if moved(k) != k]:
                store[moved(key)] = store.pop(key)
        for index in (
            self._comment_issue,
            self._review_comment_pull,
            self._review_pull,
            self._reaction_target,
            self._check_run_repo,
            self._check_suite_repo,
        ):
            index.update([(key, moved(value)) for key, value in index.items()])
        for names in [*self.installation_repos.values()] + [
            t.repositories for t in self._tokens.values() if t.repositories is not None
        ]:
            if old in names:
                names.discard(old)
                names.add(new)
        del self._repo_index[old.lower()]
        self._repo_index[new.lower()] = new
        repo = self.repos[new]
        repo.update(
            name=name,
            full_name=new,
            owner=self.user(owner) | {"type": repo["owner"]["type"]},
            html_url=f"{WEB}/{new}",
            url=f"{self.url}/repos/{new}",
            clone_url=f"{WEB}/{new}.git",
        )
        return repo

    def set_permission(self, full_name: str, username: str, permission: str) -> None:
        """Collaborator role: admin|maintain|write|triage|read|none."""
        if permission not in ROLE_TO_PERMISSION:
            raise ValueError(f"unknown permission {permission!r}")
        self.user(username)
        self.collaborators[self._canonical(full_name)][username.lower()] = permission

    def set_file(self, full_name: str, path: str, content: str | bytes) -> None:
        """A file in the repository's (single) tree; served by contents/readme/trees."""
        data = content.encode() if isinstance(content, str) else content
        self.files[self._canonical(full_name)][path.strip("/")] = data

    def set_languages(self, full_name: str, languages: dict[str, int]) -> None:
        self.languages[self._canonical(full_name)] = dict(languages)

    def branches_at(self, full_name: str, sha: str) -> list[str]:
        """Branch names whose ref points at `sha` (pull head branches first)."""
        full = self._canonical(full_name)
        names = [b for (f, b), s in self.refs.items() if f == full and s == sha]
        heads = {p["head"]["ref"] for p in self.pulls[full].values()}
        return sorted(names, key=lambda b: (b not in heads, b))

    def _get_repo(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(ctx.repo)

    def _get_permission(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None and ctx.repo is not None
        username = ctx.params["username"]
        role = self.collaborators[ctx.full_name].get(username.lower())
        if role is None:
            if username.lower() == ctx.repo["owner"]["login"].lower():
                role = "admin"
            else:
                role = "none" if ctx.repo["private"] else "read"
        permission = ROLE_TO_PERMISSION[role]
        level = PERMISSION_LEVELS[permission]
        user = self.user(username) | {
            "permissions": {
                "admin": level >= 3,
                "maintain": role in ("admin", "maintain"),
                "push": level >= 2,
                "triage": level >= 2 or role == "triage",
                "pull": level >= 1,
            },
            "role_name": role,
        }
        return 200, {"permission": permission, "role_name": role, "user": user}

    # contents

    def _content_entry(self, ctx: Ctx, path: str, data: bytes | None) -> dict[str, Any]:
        full = ctx.full_name
        name = path.rsplit("/", 1)[-1]
        ref = ctx.query.get("ref") or ctx.repo["default_branch"]  # type: ignore[index]
        entry: dict[str, Any] = {
            "type": "file" if data is not None else "dir",
            "name": name,
            "path": path,
            "sha": _git_blob_sha(data) if data is not None else _fake_sha(full or "", path),
            "size": len(data) if data is not None else 0,
            "url": f"{self.url}/repos/{full}/contents/{quote(path)}?ref={quote(ref)}",
            "html_url": f"{WEB}/{full}/{'blob' if data is not None else 'tree'}/{ref}/{path}",
            "git_url": f"{self.url}/repos/{full}/git/blobs/{_git_blob_sha(data or b'')}",
            "download_url": (
                f"https://raw.githubusercontent.com/{full}/{ref}/{path}"
                if data is not None
                else None
            ),
        }
        return entry

    def _file_reply(self, ctx: Ctx, path: str, data: bytes) -> Reply:
        if "vnd.github.raw" in ctx.request.headers.get("Accept", ""):
            return 200, data, {"content-type": "application/vnd.github.raw"}
        entry = self._content_entry(ctx, path, data)
        if len(data) > CONTENT_MAX_INLINE:
            entry |= {"content": "", "encoding": "none"}
        else:
            b64 = base64.b64encode(data).decode()
            entry |= {
                "content": "\n".join(b64[i : i + 60] for i in range(0, len(b64), 60)) + "\n",
                "encoding": "base64",
            }
        return 200, entry

    def _get_contents(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        path = ctx.params["path"].strip("/")
        if path in files:
            return self._file_reply(ctx, path, files[path])
        children = self._children(files, path)
        if not children:
            raise GitHubError(404, "Not Found")
        return 200, [self._content_entry(ctx, p, files.get(p)) for p in children]

    @staticmethod
    def _children(files: dict[str, bytes], directory: str) -> list[str]:
        prefix = f"{directory}/" if directory else ""
        out: set[str] = set()
        for p in files:
            if p.startswith(prefix):
                head = p[len(prefix) :].split("/", 1)[0]
                out.add(prefix + head)
        return sorted(out)

    def _get_readme(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        candidates = sorted(
            (p for p in files if "/" not in p and p.lower().startswith("readme")),
            key=lambda p: (p.lower() != "readme.md", p),
        )
        if not candidates:
            raise GitHubError(404, "Not Found")
        return self._file_reply(ctx, candidates[0], files[candidates[0]])

    def _get_languages(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        return 200, dict(self.languages[ctx.full_name])

    def _get_tree(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        files = self.files[ctx.full_name]
        recursive = ctx.query.get("recursive") not in (None, "", "0", "false")
        paths: set[str] = set()
        for p in files:
            parts = p.split("/")
            for i in range(1, len(parts) + 1):
                paths.add("/".join(parts[:i]))
        if not recursive:
            paths = {p for p in paths if "/" not in p}
        tree = []
        for p in sorted(paths):
            data = files.get(p)
            if data is not None:
                tree.append(
                    {
                        "path": p,
                        "mode": "100644",
                        "type": "blob",
                        "sha": _git_blob_sha(data),
                        "size": len(data),
                        "url": f"{self.url}/repos/{ctx.full_name}/git/blobs/{_git_blob_sha(data)}",
                    }
                )
            else:
                sha = _fake_sha(ctx.full_name, "tree:" + p)
                tree.append(
                    {
                        "path": p,
                        "mode": "040000",
                        "type": "tree",
                        "sha": sha,
                        "url": f"{self.url}/repos/{ctx.full_name}/git/trees/{sha}",
                    }
                )
        sha = self.refs.get((ctx.full_name, ctx.params["tree_sha"]), ctx.params["tree_sha"])
        return 200, {
            "sha": sha,
            "url": f"{self.url}/repos/{ctx.full_name}/git/trees/{sha}",
            "tree": tree,
            "truncated": False,
        }

    # branch rules: rulesets and classic protection

    def set_branch_rules(
        self, full_name: str, branch: str, rules: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The ruleset rules that apply to `branch`, as `GET .../rules/branches/{branch}`
        answers them (build them with `pull_request_rule`, `required_checks_rule`,
        `merge_queue_rule`); each gets its ruleset's source fields."""
        full = self._canonical(full_name)
        out = []
        for i, rule in enumerate(rules, start=1):
            source = {"ruleset_source_type": "Repository", "ruleset_source": full, "ruleset_id": i}
            out.append(source | copy.deepcopy(rule))
        self.branch_rules[(full, branch)] = out
        return out

    def protect_branch(
        self,
        full_name: str,
        branch: str,
        *,
        required_checks: list[str] | tuple[str, ...] = (),
        required_reviews: int = 0,
    ) -> dict[str, Any]:
        """Classic branch protection. Without the `administration` permission GitHub
        shows an App only `protected` and the required status checks of it (on
        `GET .../branches/{branch}`); the required reviews stay hidden, and show as
        the pull's `mergeable_state` "blocked" until they are given."""
        full = self._canonical(full_name)
        rule = {"required_checks": list(required_checks), "required_reviews": required_reviews}
        self.branch_protection[(full, branch)] = rule
        return rule

    def set_allow_auto_merge(self, full_name: str, allowed: bool = True) -> None:
        """The repository setting "Allow auto-merge" (off by default on GitHub)."""
        self.repos[self._canonical(full_name)]["allow_auto_merge"] = allowed

    def _get_branch_rules(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        rules = self.branch_rules.get((ctx.full_name, ctx.params["branch"]), [])
        chunk, headers = self._paginate(ctx, copy.deepcopy(rules))
        # the answer keeps to GitHub's published 200 schema (tests/data)
        op = openapi_operations()[("GET", "/repos/{owner}/{repo}/rules/branches/{branch}")]
        Draft202012Validator(op["response_schema"]).validate(chunk)
        return 200, chunk, headers

    def _get_branch(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        branch = ctx.params["branch"]
        sha = self.refs.get((ctx.full_name, branch))
        if sha is None:
            raise GitHubError(404, "Branch not found")
        api = f"{self.url}/repos/{ctx.full_name}/branches/{quote(branch, safe='')}"
        rule = self.branch_protection.get((ctx.full_name, branch))
        protection: dict[str, Any] = {"enabled": False, "required_status_checks": None}
        if rule is not None:
            checks = rule["required_checks"]
            protection = {
                "enabled": True,
                "required_status_checks": {
                    "enforcement_level": "non_admins" if checks else "off",
                    "contexts": list(checks),
                    "checks": [{"context": c, "app_id": None} for c in checks],
                },
            }
        if protection["required_status_checks"] is None:
            del protection["required_status_checks"]
        return 200, {
            "name": branch,
            "commit": {"sha": sha, "url": f"{self.url}/repos/{ctx.full_name}/commits/{sha}"},
            "_links": {"self": api, "html": f"{WEB}/{ctx.full_name}/tree/{branch}"},
            "protected": rule is not None,
            "protection": protection,
            "protection_url": f"{api}/protection",
        }


def pull_request_rule(approvals: int = 1) -> dict[str, Any]:
    """A ruleset's `pull_request` rule: `approvals` approving reviews required."""
    return {
        "type": "pull_request",
        "parameters": {
            "dismiss_stale_reviews_on_push": False,
            "require_code_owner_review": False,
            "require_last_push_approval": False,
            "required_approving_review_count": approvals,
            "required_review_thread_resolution": False,
        },
    }


def required_checks_rule(*contexts: str) -> dict[str, Any]:
    """A ruleset's `required_status_checks` rule."""
    return {
        "type": "required_status_checks",
        "parameters": {
            "required_status_checks": [{"context": c} for c in contexts],
            "strict_required_status_checks_policy": False,
        },
    }


def merge_queue_rule(method: str = "SQUASH") -> dict[str, Any]:
    """A ruleset's `merge_queue` rule (the queue's own merge method wins)."""
    return {
        "type": "merge_queue",
        "parameters": {
            "check_response_timeout_minutes": 60,
            "grouping_strategy": "ALLGREEN",
            "max_entries_to_build": 5,
            "max_entries_to_merge": 5,
            "merge_method": method,
            "min_entries_to_merge": 1,
            "min_entries_to_merge_wait_minutes": 5,
        },
    }
