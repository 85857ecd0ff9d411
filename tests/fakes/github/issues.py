"""Issues, labels, issue comments and reactions."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from tests.fakes.github.contract import MAX_COMMENT_BODY, REACTIONS, WEB
from tests.fakes.github.routing import Ctx, GitHubError, Reply, validation_failed
from tests.fakes.github.util import _iso, _node_id


def _reaction_summary(url: str) -> dict[str, Any]:
    return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(REACTIONS, 0)}


def _check_comment_body(body: str) -> None:
    if not body.strip():
        raise validation_failed("IssueComment", "missing_field", "body")
    if len(body) > MAX_COMMENT_BODY:
        raise validation_failed(
            "IssueComment",
            "unprocessable",
            "data",
            message=f"Body is too long (maximum is {MAX_COMMENT_BODY} characters)",
        )


class IssuesMixin:
    """Issues, labels, comments and reactions (the state lives on `FakeGitHub`)."""

    def comments_on(self, full_name: str, issue_number: int) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            c
            for cid, c in sorted(self.comments.items())
            if self._comment_issue.get(cid) == (full, issue_number)
        ]

    def reactions_on(self, kind: str, target_id: int) -> list[dict[str, Any]]:
        """kind: "issue" (target = issue number), "issue_comment", "review_comment"."""
        return [
            r
            for rid, r in sorted(self.reactions.items())
            if self._reaction_target[rid][0] == kind and self._reaction_target[rid][2] == target_id
        ]

    def issue_labels(self, full_name: str, issue_number: int) -> list[str]:
        issue = self.issues[self._canonical(full_name)][issue_number]
        return [label["name"] for label in issue["labels"]]

    def add_label(
        self, full_name: str, name: str, *, color: str = "ededed", description: str | None = None
    ) -> dict[str, Any]:
        full = self._canonical(full_name)
        label_id = self._next_id("label")
        label = {
            "id": label_id,
            "node_id": _node_id("Label", label_id),
            "url": f"{self.url}/repos/{full}/labels/{quote(name, safe='')}",
            "name": name,
            "color": color,
            "default": False,
            "description": description,
        }
        self.labels[full][name.lower()] = label
        return label

    def add_issue(
        self,
        full_name: str,
        number: int | None = None,
        *,
        title: str = "An issue",
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        state: str = "open",
        issue_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        full = self._canonical(full_name)
        issues = self.issues[full]
        if number is None:
            number = max(issues, default=0) + 1
        if issue_id is None:
            issue_id = self._next_id("issue", 2_000_000)
        else:
            self._seen_id("issue", issue_id)
        api = f"{self.url}/repos/{full}/issues/{number}"
        issue = {
            "id": issue_id,
            "node_id": _node_id("Issue", issue_id),
            "url": api,
            "repository_url": f"{self.url}/repos/{full}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{WEB}/{full}/issues/{number}",
            "number": number,
            "state": state,
            "title": title,
            "body": body,
            "user": self.user(user),
            "labels": [self._ensure_label(full, name) for name in labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "created_at": _iso(),
            "updated_at": _iso(),
            "closed_at": None,
            "author_association": author_association,
            "reactions": _reaction_summary(api),
            "performed_via_github_app": None,
            "state_reason": None,
        }
        issues[number] = issue
        return issue

    def add_comment(
        self,
        full_name: str,
        issue_number: int,
        body: str,
        *,
        user: str | None = None,
        comment_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        """An issue comment (user None = the App's bot)."""
        full = self._canonical(full_name)
        issue = self.issues[full][issue_number]
        if comment_id is None:
            comment_id = self._next_id("comment", 1_000_000)
        else:
            self._seen_id("comment", comment_id)
        is_bot = user is None
        now = _iso()
        comment = {
            "id": comment_id,
            "node_id": _node_id("IssueComment", comment_id),
            "url": f"{self.url}/repos/{full}/issues/comments/{comment_id}",
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "body": body,
            "user": self.bot_user() if is_bot else self.user(user),
            "created_at": now,
            "updated_at": now,
            "author_association": author_association,
            "performed_via_github_app": self.app_object() if is_bot else None,
            "reactions": _reaction_summary(f"{self.url}/repos/{full}/issues/comments/{comment_id}"),
        }
        self.comments[comment_id] = comment
        self._comment_issue[comment_id] = (full, issue_number)
        issue["comments"] += 1
        return comment

    def delete_comment(self, comment_id: int) -> dict[str, Any]:
        """Delete an issue comment (GET/PATCH on it answer 404 afterwards)."""
        comment = self.comments.pop(comment_id)
        full, number = self._comment_issue.pop(comment_id)
        self.issues[full][number]["comments"] -= 1
        return comment

    def _ensure_label(self, full: str, name: str) -> dict[str, Any]:
        return self.labels[full].get(name.lower()) or self.add_label(full, name)

    def _issue(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.full_name is not None
        issue = self.issues[ctx.full_name].get(ctx.int_param("issue_number"))
        if issue is None:
            raise GitHubError(404, "Not Found")
        return issue

    def _comment(self, ctx: Ctx) -> dict[str, Any]:
        cid = ctx.int_param("comment_id")
        loc = self._comment_issue.get(cid)
        if loc is None or loc[0] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        return self.comments[cid]

    def _create_label(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        name = ctx.body["name"].strip()
        if not name:
            raise validation_failed("Label", "missing_field", "name")
        color = ctx.body.get("color", "ededed")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise validation_failed("Label", "invalid", "color")
        description = ctx.body.get("description")
        if description is not None and len(description) > 100:
            raise validation_failed("Label", "invalid", "description")
        if name.lower() in self.labels[ctx.full_name]:
            raise validation_failed("Label", "already_exists", "name")
        return 201, copy.deepcopy(
            self.add_label(ctx.full_name, name, color=color, description=description)
        )

    def _get_label(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        label = self.labels[ctx.full_name].get(ctx.params["name"].lower())
        if label is None:
            raise GitHubError(404, "Not Found")
        return 200, copy.deepcopy(label)

    def _add_issue_labels(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        present = {lb["name"].lower() for lb in issue["labels"]}
        for item in (ctx.body or {}).get("labels") or []:
            name = item if isinstance(item, str) else item["name"]
            if name.lower() not in present:
                issue["labels"].append(self._ensure_label(ctx.full_name, name))
                present.add(name.lower())
        issue["updated_at"] = _iso()
        return 200, copy.deepcopy(issue["labels"])

    def _remove_issue_label(self, ctx: Ctx) -> Reply:
        issue = self._issue(ctx)
        name = ctx.params["name"].lower()
        kept = [lb for lb in issue["labels"] if lb["name"].lower() != name]
        if len(kept) == len(issue["labels"]):
            raise GitHubError(404, "Label does not exist")
        issue["labels"][:] = kept
        return 200, copy.deepcopy(kept)

    def transfer_issue(
        self, full_name: str, number: int, to_full_name: str, to_number: int
    ) -> None:
        """Issue `number` moved to `to_full_name` (as `to_number`, an issue added there):
        GitHub answers its old address with a 301 to the new one."""
        source = self._canonical(full_name)
        self.issues[source].pop(number, None)
        self.transferred_issues[(source, number)] = (self._canonical(to_full_name), to_number)

    def _get_issue(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        moved = self.transferred_issues.get((ctx.full_name, ctx.int_param("issue_number")))
        if moved is not None:
            where = f"{self.url}/repos/{moved[0]}/issues/{moved[1]}"
            body = {
                "message": "Moved Permanently",
                "url": where,
                "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
            }
            return 301, body, {"Location": where}
        return 200, copy.deepcopy(self._issue(ctx))

    def _create_issue(self, ctx: Ctx) -> Reply:
        """`POST /repos/{owner}/{repo}/issues`, opened by the App's bot user."""
        assert ctx.full_name is not None
        body = ctx.body or {}
        title = body.get("title")
        if not isinstance(title, str | int) or not str(title).strip():
            raise GitHubError(
                422, "Validation Failed", errors=[{"field": "title", "code": "missing_field"}]
            )
        if body.get("body") is not None:
            _check_comment_body(body["body"])
        issue = self.add_issue(
            ctx.full_name, title=str(title), body=body.get("body"), user=self.bot_login
        )
        return 201, copy.deepcopy(issue)

    def _create_comment(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        body = ctx.body["body"]
        _check_comment_body(body)
        if issue.get("locked"):
            raise GitHubError(403, "Unable to create comment because issue is locked.")
        comment = self.add_comment(ctx.full_name, issue["number"], body)
        return 201, copy.deepcopy(comment)

    def _edit_comment(self, ctx: Ctx) -> Reply:
        comment = self._comment(ctx)
        _check_comment_body(ctx.body["body"])
        comment["body"] = ctx.body["body"]
        comment["updated_at"] = _iso()
        return 200, copy.deepcopy(comment)

    def _get_comment(self, ctx: Ctx) -> Reply:
        return 200, copy.deepcopy(self._comment(ctx))

    def _list_comments(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        issue = self._issue(ctx)
        items = self.comments_on(ctx.full_name, issue["number"])
        since = ctx.query.get("since")
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        chunk, headers = self._paginate(ctx, items)
        return 200, copy.deepcopy(chunk), headers

    def _react(self, ctx: Ctx, kind: str, target_id: int, summary: dict | None) -> Reply:
        assert ctx.full_name is not None
        content = ctx.body["content"]
        me = self.bot_login
        for rid, (k, full, tid) in self._reaction_target.items():
            r = self.reactions[rid]
            if (
                (k, full, tid) == (kind, ctx.full_name, target_id)
                and r["content"] == content
                and r["user"]["login"] == me
            ):
                return 200, copy.deepcopy(r)
        rid = self._next_id("reaction")
        reaction = {
            "id": rid,
            "node_id": _node_id("Reaction", rid),
            "user": self.bot_user(),
            "content": content,
            "created_at": _iso(),
        }
        self.reactions[rid] = reaction
        self._reaction_target[rid] = (kind, ctx.full_name, target_id)
        if summary is not None:
            summary[content] = summary.get(content, 0) + 1
            summary["total_count"] = summary.get("total_count", 0) + 1
        return 201, copy.deepcopy(reaction)

    def _react_issue(self, ctx: Ctx) -> Reply:
        issue = self._issue(ctx)
        return self._react(ctx, "issue", issue["number"], issue.get("reactions"))

    def _react_comment(self, ctx: Ctx) -> Reply:
        comment = self._comment(ctx)
        return self._react(ctx, "issue_comment", comment["id"], comment.get("reactions"))

    def _react_review_comment(self, ctx: Ctx) -> Reply:
        cid = ctx.int_param("comment_id")
        loc = self._review_comment_pull.get(cid)
        if loc is None or loc[0] != ctx.full_name:
            raise GitHubError(404, "Not Found")
        comment = self.review_comments[cid]
        return self._react(ctx, "review_comment", cid, comment.get("reactions"))
